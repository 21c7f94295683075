from django.contrib import admin

from workflows.models import Workflow, WorkflowVersion


class VersionInline(admin.TabularInline):
    model = WorkflowVersion
    extra = 0
    can_delete = False
    fields = ["number", "wdl_name", "wdl_version", "sha256", "created_by", "created"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Workflow)
class WorkflowAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "script_prefix", "job_role_arn", "created"]
    list_filter = ["project__team"]
    search_fields = ["name", "slug", "project__name", "project__team__name"]
    inlines = [VersionInline]


@admin.register(WorkflowVersion)
class WorkflowVersionAdmin(admin.ModelAdmin):
    list_display = ["workflow", "number", "wdl_name", "wdl_version", "sha256", "created_by", "created"]
    list_filter = ["wdl_version", "workflow__project__team"]
    search_fields = ["workflow__name", "wdl_name", "sha256"]
    readonly_fields = [f.name for f in WorkflowVersion._meta.fields]

    def has_add_permission(self, request):
        return False
