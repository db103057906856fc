"""Admin of the projects app. Every write calls projects.services (validated, locked,
audited); version history is read-only."""

import json

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from core.admin_tools import BigTableAdmin, ReadOnlyAdmin, ServiceAdmin, json_shown_as
from projects import selectors, services
from projects.models import Baseline, Policy, Project, ProjectPolicy, Version, VersionHistory


class VersionInline(admin.TabularInline):
    model = Version
    fields = ["tag", "changelog", "promoted_at", "promoted_by", "updated_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


class BaselineInline(admin.TabularInline):
    model = Baseline
    fields = ["metric_key", "operator", "threshold", "active", "snapshot_id"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Project)
class ProjectAdmin(ServiceAdmin):
    list_display = ["name", "owner", "archived", "created_at", "updated_at"]
    list_filter = ["archived", "created_at"]
    search_fields = ["name", "owner__email", "=id"]
    list_select_related = ["owner"]
    date_hierarchy = "created_at"
    autocomplete_fields = ["owner"]
    readonly_fields = ["id", "archived", "created_at", "updated_at", "judge_agreement"]
    fields = [
        "id",
        "name",
        "description",
        "owner",
        "settings",
        "archived",
        "judge_agreement",
        "created_at",
        "updated_at",
    ]
    inlines = [VersionInline, BaselineInline]
    actions = ["archive_projects", "unarchive_projects"]

    def get_readonly_fields(self, request, obj=None):
        # The owner is chosen at creation; afterwards it is part of the project's identity.
        return [*self.readonly_fields, "owner"] if obj else self.readonly_fields

    @admin.display(description="Judge-vs-human agreement")
    def judge_agreement(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        data = selectors.project_detail_sections(obj).get("agreement")
        if not data:
            return "—"
        if not data["overridden"]:
            return f"No human overrides yet ({data['evaluations']} evaluations)."
        kappa = "undefined" if data["kappa"] is None else f"{data['kappa']:.3f}"
        return format_html(
            "{} of {} overrides agree with the AI ({}); Cohen's kappa {}. {} evaluations in all.",
            data["agreed"],
            data["overridden"],
            f"{data['agreement_rate']:.1%}",
            kappa,
            data["evaluations"],
        )

    def save_model(self, request, obj, form, change):
        if change:
            values = {f: form.cleaned_data[f] for f in form.changed_data if f in ("name", "description", "settings")}
            if values:
                services.project_update(project=obj, actor=request.user, **values)
        else:
            created = services.project_create(
                owner=form.cleaned_data["owner"],
                name=form.cleaned_data["name"],
                description=form.cleaned_data.get("description") or "",
                settings=form.cleaned_data.get("settings") or {},
                actor=request.user,
            )
            self.mark_saved(obj, created)

    def delete_model(self, request, obj):
        services.project_delete(project=obj, actor=request.user)

    def get_deleted_objects(self, objs, request):
        """A project's versions, their history and its baselines go with it (the service
        decides what may be deleted); they have no delete permission of their own, which
        would otherwise make Django refuse every project deletion."""
        deleted, model_count, _perms_needed, protected = super().get_deleted_objects(objs, request)
        return deleted, model_count, set(), protected

    @admin.action(description="Archive selected projects (read-only)", permissions=["workflow"])
    def archive_projects(self, request, queryset):
        self.run_service(
            request,
            lambda p: services.project_archive(project=p, actor=request.user),
            queryset,
            done="Archived",
        )

    @admin.action(description="Unarchive selected projects", permissions=["workflow"])
    def unarchive_projects(self, request, queryset):
        self.run_service(
            request,
            lambda p: services.project_unarchive(project=p, actor=request.user),
            queryset,
            done="Unarchived",
        )


class HistoryInline(admin.TabularInline):
    model = VersionHistory
    fields = ["created_at", "action", "from_tag", "to_tag", "changed_by", "reason"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["-created_at"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Version)
class VersionAdmin(ServiceAdmin):
    list_display = ["project", "tag", "promoted_at", "promoted_by", "updated_at"]
    list_filter = ["tag"]
    search_fields = ["project__name", "=project__id"]
    list_select_related = ["project", "promoted_by"]
    fields = [
        "id",
        "project",
        "tag",
        "model_config",
        "changelog",
        "promoted_at",
        "promoted_by",
        "created_at",
        "updated_at",
    ]
    readonly_fields = ["id", "project", "tag", "promoted_at", "promoted_by", "created_at", "updated_at"]
    inlines = [HistoryInline]

    def has_add_permission(self, request):
        return False  # versions are created with their project

    def has_delete_permission(self, request, obj=None):
        return False

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            # The form shows (and edits) the config in its author's key order: the same
            # value as the jsonb column, which sorts keys.
            obj.model_config = json.loads(obj.model_config_text)
        return obj

    def save_model(self, request, obj, form, change):
        values = {f: form.cleaned_data[f] for f in form.changed_data if f in ("model_config", "changelog")}
        if values:
            services.version_update(version=obj, actor=request.user, reason="edited in the admin console", **values)


@admin.register(Baseline)
class BaselineAdmin(ServiceAdmin):
    list_display = ["metric_key", "operator", "threshold", "project", "active", "updated_at"]
    list_filter = ["active", "operator"]
    search_fields = ["metric_key", "project__name", "=project__id"]
    list_select_related = ["project"]
    autocomplete_fields = ["project"]
    readonly_fields = ["id", "created_at", "updated_at"]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "project"] if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        fields = ("metric_key", "operator", "threshold", "snapshot_id", "active")
        if change:
            values = {f: form.cleaned_data[f] for f in form.changed_data if f in fields}
            if values:
                services.baseline_update(baseline=obj, actor=request.user, **values)
        else:
            created = services.baseline_create(
                project=form.cleaned_data["project"],
                actor=request.user,
                **{f: form.cleaned_data[f] for f in fields},
            )
            self.mark_saved(obj, created)

    def delete_model(self, request, obj):
        services.baseline_delete(baseline=obj, actor=request.user)


@admin.register(Policy)
class PolicyAdmin(ServiceAdmin):
    list_display = ["name", "active", "updated_at"]
    list_filter = ["active"]
    search_fields = ["name", "description"]
    readonly_fields = ["id", "created_at", "updated_at", "projects"]

    @admin.display(description="Attached to")
    def projects(self, obj):
        links = ProjectPolicy.objects.filter(policy=obj).select_related("project")[:50]
        return format_html_join(", ", "{}", ((link.project.name,) for link in links)) or "—"

    def save_model(self, request, obj, form, change):
        fields = ("name", "description", "rego_code", "active")
        if change:
            values = {f: form.cleaned_data[f] for f in form.changed_data if f in fields}
            if values:
                services.policy_update(policy=obj, actor=request.user, **values)
        else:
            created = services.policy_create(actor=request.user, **{f: form.cleaned_data[f] for f in fields})
            self.mark_saved(obj, created)

    def delete_model(self, request, obj):
        services.policy_delete(policy=obj, actor=request.user)


@admin.register(ProjectPolicy)
class ProjectPolicyAdmin(ServiceAdmin):
    list_display = ["project", "policy", "attached_by", "created_at"]
    search_fields = ["project__name", "policy__name"]
    list_select_related = ["project", "policy", "attached_by"]
    autocomplete_fields = ["project", "policy"]
    readonly_fields = ["id", "attached_by", "created_at"]

    def has_change_permission(self, request, obj=None):
        return False  # attach or detach; nothing to edit

    def save_model(self, request, obj, form, change):
        created = services.project_policy_attach(
            project=form.cleaned_data["project"], policy=form.cleaned_data["policy"], actor=request.user
        )
        self.mark_saved(obj, created)

    def delete_model(self, request, obj):
        services.project_policy_detach(project=obj.project, policy=obj.policy, actor=request.user)


@admin.register(VersionHistory)
class VersionHistoryAdmin(BigTableAdmin, ReadOnlyAdmin):
    list_display = ["created_at", "version", "action", "from_tag", "to_tag", "changed_by"]
    list_filter = ["action", "to_tag", "created_at"]
    search_fields = ["reason", "=version__id", "version__project__name"]
    list_select_related = ["version__project", "changed_by"]
    date_hierarchy = "created_at"

    sortable_by = ["created_at"]
    readonly_fields = ["model_config_json"]

    def get_actions(self, request):
        return {}

    def get_fields(self, request, obj=None):
        # The config once, indented, in its author's key order (model_config_text), where
        # the jsonb `model_config` would stand.
        return json_shown_as(super().get_fields(request, obj), "model_config", "model_config_text", "model_config_json")

    @admin.display(description="model config")
    def model_config_json(self, obj):
        from console.history import pretty_json

        return pretty_json(json.loads(obj.model_config_text))
