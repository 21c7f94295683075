from django import forms
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import ValidationError

from batchsite.admin import ViewOnlyAdmin
from teams.models import ApiToken, AuditEvent, Budget, Membership, Project, Team
from teams.services import (
    budget_delete, budget_set, narrowing_validate, readable_prefixes_validate, team_change_record, team_validate,
    team_values,
)


class RoleListField(forms.CharField):
    """One role ARN a line, stored as a list."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 80})

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list) else value

    def to_python(self, value):
        return [line.strip() for line in (value or "").splitlines() if line.strip()]


class TeamForm(forms.ModelForm):
    allowed_role_arns = RoleListField(required=False, help_text="One IAM role ARN a line.")
    cache_readable_prefixes = RoleListField(
        required=False, help_text="One a line (s3://bucket/prefix/ or /a/directory/): where this team's jobs may "
                                  "read, so where another team's cached results may come from.")

    class Meta:
        model = Team
        fields = "__all__"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, default in settings.BATCHSITE_DEFAULT_LIMITS.items():
            if name in self.fields:
                self.fields[name].help_text += f" Empty: the site default, {default:,}."

    def clean_cost_tags(self):
        return self.cleaned_data.get("cost_tags") or {}  # left empty: no tags of the team's own

    def clean(self):
        cleaned = super().clean()
        candidate = Team(**{f: cleaned.get(f) for f in ("prefix_root", "allowed_role_arns", "default_role_arn",
                                                        "max_running_jobs", "cost_tags")})
        candidate.slug = cleaned.get("slug") or ""
        try:
            team_validate(team=candidate)
            readable_prefixes_validate(cleaned.get("cache_readable_prefixes") or [])
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                self.add_error(field, errors)
        return cleaned


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


class ProjectInline(admin.TabularInline):
    model = Project
    extra = 0
    fields = ["name", "slug", "script_prefix", "job_role_arn", "max_running_jobs"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    form = TeamForm
    list_display = ["name", "slug", "prefix_root", "max_running_jobs", "max_queued_jobs", "max_calls_per_run", "created"]
    search_fields = ["name", "slug", "prefix_root"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline, ProjectInline]
    actions = ["preview_cleanup", "run_cleanup"]

    def get_inlines(self, request, obj):
        from workflows.admin import RetentionPolicyInline

        return [RetentionPolicyInline, *self.inlines]

    def save_model(self, request, obj, form, change):
        before = team_values(team=Team.objects.get(pk=obj.pk)) if change else {}
        super().save_model(request, obj, form, change)
        team_change_record(team=obj, user=request.user, before=before)

    @admin.action(description="Preview the retention cleanup of the selected teams")
    def preview_cleanup(self, request, queryset):
        from workflows.services.retention import team_retention_preview

        for team in queryset:
            report = team_retention_preview(team=team)
            self.message_user(request, f"{team}: would delete {report.deleted_objects} expired scripts "
                                       f"({report.deleted_bytes} bytes).")

    @admin.action(description="Run the retention cleanup of the selected teams now")
    def run_cleanup(self, request, queryset):
        from workflows.services.retention import team_retention_apply

        for team in queryset:
            report = team_retention_apply(team=team, user=request.user)
            errors = f", {len(report.errors)} errors" if report.errors else ""
            self.message_user(request, f"{team}: deleted {report.deleted_objects} expired scripts "
                                       f"({report.deleted_bytes} bytes){errors}.")


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "team", "role"]
    list_filter = ["role", "team"]
    search_fields = ["user__username", "team__name", "team__slug"]
    autocomplete_fields = ["user"]


class ProjectForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = "__all__"

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("team"):
            try:
                narrowing_validate(team=cleaned["team"], script_prefix=cleaned.get("script_prefix") or "",
                                   job_role_arn=cleaned.get("job_role_arn") or "",
                                   max_running_jobs=cleaned.get("max_running_jobs"))
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    self.add_error(field, errors)
        return cleaned


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    form = ProjectForm
    list_display = ["name", "team", "script_prefix", "job_role_arn", "max_running_jobs"]
    list_filter = ["team"]
    search_fields = ["name", "slug", "team__name"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(AuditEvent)
class AuditEventAdmin(ViewOnlyAdmin):
    list_display = ["created", "team", "user", "action", "target"]
    list_filter = ["action", "team"]
    search_fields = ["target", "user__username", "team__slug"]
    date_hierarchy = "created"
    readonly_fields = ["created", "team", "user", "action", "target", "details"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Users create their own tokens (the secret is shown to them once); operators may only look and revoke."""

    list_display = ("user", "name", "prefix", "created", "last_used", "revoked")
    list_filter = ("revoked",)
    search_fields = ("user__username", "name", "prefix")
    readonly_fields = ("user", "name", "prefix", "token_hash", "created", "last_used")
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        from django.utils import timezone

        count = queryset.filter(revoked__isnull=True).update(revoked=timezone.now())
        self.message_user(request, f"{count} token(s) revoked.")


class BudgetForm(forms.ModelForm):
    class Meta:
        model = Budget
        fields = ["team", "project", "monthly_limit"]

    def clean(self):
        cleaned = super().clean()
        team, project = cleaned.get("team"), cleaned.get("project")
        if team and project and project.team_id != team.pk:
            self.add_error("project", f"project {project} is not in team {team.slug}")
        return cleaned


@admin.register(Budget)
class BudgetAdmin(admin.ModelAdmin):
    """Monthly budgets: at 80 % the team's admins are warned, at 100 % new runs are refused until raised."""

    form = BudgetForm
    list_display = ["team", "project", "monthly_limit", "updated"]
    list_filter = ["team"]
    search_fields = ["team__slug", "project__slug"]
    autocomplete_fields = ["team", "project"]

    def get_readonly_fields(self, request, obj=None):
        return ["team", "project"] if obj else []  # another team or project is another budget

    def save_model(self, request, obj, form, change):
        # Through the service, so the change is audited with its old and new amounts.
        saved = budget_set(team=obj.team, project=obj.project, monthly_limit=obj.monthly_limit, user=request.user)
        obj.pk = saved.pk

    def delete_model(self, request, obj):
        budget_delete(budget=obj, user=request.user)

    def delete_queryset(self, request, queryset):
        for budget in queryset.select_related("team", "project"):
            budget_delete(budget=budget, user=request.user)
