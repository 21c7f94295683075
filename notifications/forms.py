from django import forms

from notifications.services import MAX_URL


class EmailPreferenceForm(forms.Form):
    email = forms.EmailField(label="Email address", required=False, max_length=254)
    runs_ended = forms.BooleanField(label="Email me when my runs end", required=False,
                                    help_text="Succeeded, failed or aborted: one email per run end.")


class WebhookForm(forms.Form):
    url = forms.CharField(label="URL", max_length=MAX_URL, widget=forms.URLInput(
        attrs={"placeholder": "https://hooks.example.org/batchsite", "class": "mono"}),
        help_text="Receives a POST with a JSON body when any of the team's runs ends.")
