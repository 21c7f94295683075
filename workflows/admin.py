from django.contrib import admin

from batchsite.admin import ViewOnlyAdmin
from workflows.models import (
    CacheEntry, Call, CallTally, CleanupReport, Lease, Price, RetentionPolicy, Run, RunBatch, RunLabel, Script,
    Subworkflow, Workflow, WorkflowVersion,
)
from workflows.services.cost import price_table_changed


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


class CallInline(admin.TabularInline):
    model = Call
    extra = 0
    can_delete = False
    fields = ["fqn", "shard_index", "attempt", "status", "backend_job_id", "return_code", "started", "ended"]
    readonly_fields = fields
    show_change_link = True
    max_num = 0

    def get_queryset(self, request):
        # A 10,000-shard run must not render 10,000 rows here: show the latest 100.
        ids = super().get_queryset(request).order_by("-pk").values("pk")[:100]
        return super().get_queryset(request).filter(pk__in=ids)


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ["id", "version", "team", "project", "submitted_by", "status", "backend", "submitted", "ended"]
    list_filter = ["status", "backend", "team"]
    search_fields = ["id", "version__workflow__name", "submitted_by__username", "script_prefix", "job_role_arn"]
    date_hierarchy = "submitted"
    exclude = ["engine_state"]
    readonly_fields = ["id", "version", "team", "project", "submitted_by", "status", "inputs", "options", "labels",
                       "script_prefix", "job_role_arn", "backend", "root", "outputs", "failures", "relaunch_of",
                       "submitted", "started", "ended", "pauses"]
    inlines = [CallInline]
    actions = ["abort_runs"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Abort the selected runs")
    def abort_runs(self, request, queryset):
        from workflows.services import run_abort

        aborted = sum(run_abort(run=run, user=request.user) for run in queryset)
        self.message_user(request, f"{aborted} run(s) aborting; {queryset.count() - aborted} had already ended.")


@admin.register(RunLabel)
class RunLabelAdmin(ViewOnlyAdmin):
    """Labels come with a submission, or the API's PATCH, which keep Run.labels the same."""

    list_display = ["key", "value", "run"]
    search_fields = ["key", "value", "run__id", "run__team__slug"]
    raw_id_fields = ["run"]
    deletable = True


@admin.register(RunBatch)
class RunBatchAdmin(admin.ModelAdmin):
    list_display = ["pk", "team", "version", "sheet_name", "created_by", "created"]
    list_filter = ["team"]
    search_fields = ["team__slug", "sheet_name", "sample_column"]
    readonly_fields = ["team", "project", "version", "created_by", "created", "sheet_name", "sample_column", "rows"]

    def has_add_permission(self, request):
        return False  # made by launching a sample sheet


@admin.register(Call)
class CallAdmin(admin.ModelAdmin):
    list_display = ["fqn", "shard_index", "attempt", "status", "team", "backend", "backend_job_id", "return_code", "started", "ended"]
    list_filter = ["status", "backend", "team"]
    search_fields = ["fqn", "backend_job_id", "run__id", "claimed_by"]
    readonly_fields = [f.name for f in Call._meta.fields]
    list_select_related = ["team"]

    def has_add_permission(self, request):
        return False


@admin.register(CallTally)
class CallTallyAdmin(ViewOnlyAdmin):
    list_display = ["run", "fqn", "status", "calls", "cost", "hits"]
    search_fields = ["run__id", "fqn"]
    list_filter = ["status"]


@admin.register(Subworkflow)
class SubworkflowAdmin(ViewOnlyAdmin):
    list_display = ["id", "run", "fqn", "shard_index", "started", "ended"]
    search_fields = ["id", "run__id", "fqn"]


@admin.register(Lease)
class LeaseAdmin(ViewOnlyAdmin):
    """Workers holding claims. Deleting a hung worker's lease hands its calls to the next tick (adopted
    where their jobs started, else queued again); the worker, should it wake, submits none of the rest."""

    list_display = ["owner", "expires"]
    search_fields = ["owner"]
    readonly_fields = ["owner", "expires"]
    deletable = True


@admin.register(CacheEntry)
class CacheEntryAdmin(admin.ModelAdmin):
    """Operators look at entries and may invalidate them (a result known to be bad); nothing else changes."""

    list_display = ["hash", "team", "call", "backend", "valid", "created"]
    list_filter = ["valid", "backend", "team"]
    search_fields = ["hash", "run__id", "call_dir"]
    readonly_fields = [f.name for f in CacheEntry._meta.fields if f.name != "valid"]
    list_select_related = ["team", "call"]
    raw_id_fields = ["call", "run"]

    def has_add_permission(self, request):
        return False


@admin.register(Script)
class ScriptAdmin(admin.ModelAdmin):
    list_display = ["key", "bucket", "size", "team", "run", "created"]
    list_filter = ["team", "bucket"]
    search_fields = ["key", "bucket", "run__id"]
    readonly_fields = [f.name for f in Script._meta.fields]
    list_select_related = ["team", "run"]

    def has_add_permission(self, request):
        return False


class RetentionPolicyInline(admin.StackedInline):
    """Shown in the team's admin page."""

    model = RetentionPolicy
    extra = 1
    max_num = 1
    can_delete = False


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(admin.ModelAdmin):
    list_display = ["team", "script_days", "call_dir_days"]
    search_fields = ["team__name", "team__slug"]


@admin.register(CleanupReport)
class CleanupReportAdmin(ViewOnlyAdmin):
    list_display = ["created", "kind", "team", "dry_run", "deleted_objects", "deleted_bytes", "duration", "error_count"]
    list_filter = ["kind", "dry_run", "team"]
    search_fields = ["team__name", "team__slug"]
    date_hierarchy = "created"
    readonly_fields = [f.name for f in CleanupReport._meta.fields]
    list_select_related = ["team"]

    deletable = True

    @admin.display(description="errors")
    def error_count(self, report):
        return len(report.errors)


@admin.register(Price)
class PriceAdmin(admin.ModelAdmin):
    """The price table calls are costed by: per vCPU-hour, GiB-hour and GPU-hour, per backend, queue and capacity."""

    list_display = ["backend", "queue", "capacity", "vcpu_hour", "gib_hour", "gpu_hour"]
    list_filter = ["backend", "capacity"]
    search_fields = ["backend", "queue"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        price_table_changed()

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        price_table_changed()

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        price_table_changed()
