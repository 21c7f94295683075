"""Operators read the delivery logs here; secrets never show."""
from django.contrib import admin

from batchsite.admin import ViewOnlyAdmin
from notifications.models import EmailDelivery, EmailPreference, Webhook, WebhookDelivery


@admin.register(EmailPreference)
class EmailPreferenceAdmin(admin.ModelAdmin):
    list_display = ("user", "runs_ended")
    list_filter = ("runs_ended",)
    search_fields = ("user__username",)


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    list_display = ("team", "url", "active", "created_by", "created", "secret_rotated")
    list_filter = ("active", "team")
    search_fields = ("url", "team__slug")
    fields = ("team", "url", "active", "created_by", "created", "secret_rotated")
    readonly_fields = ("team", "url", "created_by", "created", "secret_rotated")  # the URL is checked by its form

    def has_add_permission(self, request):
        return False  # made by team admins, who are shown the secret once


class DeliveryAdmin(ViewOnlyAdmin):
    list_filter = ("status",)
    date_hierarchy = "created"
    list_select_related = True
    deletable = True


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(DeliveryAdmin):
    list_display = ("created", "status", "status_code", "attempts", "attempted", "error", "webhook", "run_id", "finished")
    list_filter = ("status", "webhook__team")
    search_fields = ("webhook__url", "run__id")


@admin.register(EmailDelivery)
class EmailDeliveryAdmin(DeliveryAdmin):
    list_display = ("created", "status", "attempts", "attempted", "error", "address", "run_id", "finished")
    search_fields = ("address", "run__id")
