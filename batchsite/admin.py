"""What the apps' admins share."""
from django.contrib import admin


class ViewOnlyAdmin(admin.ModelAdmin):
    """Rows Batchsite writes itself: operators look at them, and delete them only where deletable says so."""

    deletable = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return self.deletable and super().has_delete_permission(request, obj)
