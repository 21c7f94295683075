"""A user's email opt-in and a team's webhooks (its admins only)."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from notifications import selectors, services
from notifications.forms import EmailPreferenceForm, WebhookForm
from notifications.services import SIGNATURE_HEADER


def _add_errors(form, exc: ValidationError) -> None:
    for field, errors in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)


@login_required
@require_http_methods(["GET", "POST"])
def preferences(request):
    """Opt in (or out) of an email when one's runs end."""
    preference = selectors.email_preference_get(user=request.user)
    form = EmailPreferenceForm(request.POST or None,
                               initial={"email": request.user.email, "runs_ended": preference.runs_ended})
    if request.method == "POST" and form.is_valid():
        try:
            services.email_preference_set(user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, "Your notification settings are saved.")
            return redirect("notification_preferences")
    return render(request, "notifications/preferences.html", {"form": form}, status=400 if form.errors else 200)


def _render_webhooks(request, slug: str, form=None, *, secret: str = "", secret_for=None, status: int = 200):
    team, hooks = selectors.webhook_list(user=request.user, slug=slug)
    rows = [(hook, selectors.webhook_recent_deliveries(webhook=hook)) for hook in hooks]
    return render(request, "notifications/webhooks.html", {
        "team": team, "rows": rows, "form": form or WebhookForm(), "secret": secret, "secret_for": secret_for,
        "signature_header": SIGNATURE_HEADER,
    }, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def webhooks(request, slug: str):
    """List a team's webhooks and add one; its secret is shown on this answer only."""
    if request.method == "GET":
        return _render_webhooks(request, slug)
    team, _ = selectors.webhook_list(user=request.user, slug=slug)
    form = WebhookForm(request.POST)
    if form.is_valid():
        try:
            hook, secret = services.webhook_create(team=team, url=form.cleaned_data["url"], user=request.user)
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            return _render_webhooks(request, slug, secret=secret, secret_for=hook, status=201)
    return _render_webhooks(request, slug, form, status=400)


@login_required
@require_POST
def webhook_rotate(request, pk: int):
    """Give a webhook a new secret, shown on this answer only."""
    hook = selectors.webhook_get_for_admin(user=request.user, pk=pk)
    secret = services.webhook_rotate(webhook=hook, user=request.user)
    return _render_webhooks(request, hook.team.slug, secret=secret, secret_for=hook)


@login_required
@require_POST
def webhook_active(request, pk: int):
    """Turn a webhook on or off."""
    hook = selectors.webhook_get_for_admin(user=request.user, pk=pk)
    services.webhook_set_active(webhook=hook, active=request.POST.get("active") == "1", user=request.user)
    return redirect("webhooks", slug=hook.team.slug)


@login_required
@require_POST
def webhook_delete(request, pk: int):
    """Delete a webhook and its delivery log."""
    hook = selectors.webhook_get_for_admin(user=request.user, pk=pk)
    services.webhook_delete(webhook=hook, user=request.user)
    messages.success(request, f"The webhook to {hook.url} is deleted.")
    return redirect("webhooks", slug=hook.team.slug)
