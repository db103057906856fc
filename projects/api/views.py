"""Projects API (API.md "Projects"): thin views that validate input, fetch through
selectors (visibility: another user's project is a 404) and call services."""

from typing import TYPE_CHECKING, Any

from django.db.models import Prefetch
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import ListAPIView
from rest_framework.response import Response

from accounts.models import User
from accounts.types import SignedInRequest
from core.api.strict import QueryNamesOnly
from core.db.replica_views import ReplicaReadMixin
from core.exceptions import NotFound, PermissionDenied, ValidationFailed
from core.permissions import AdminWritesOthersRead
from projects import selectors, services
from projects.api.filters import BaselineFilter, PolicyFilter, ProjectFilter, VersionHistoryFilter
from projects.api.serializers import (
    BaselineInput,
    BaselineOutput,
    BaselineUpdateInput,
    PolicyInput,
    PolicyOutput,
    PolicyUpdateInput,
    ProjectCreateInput,
    ProjectDetailOutput,
    ProjectOutput,
    ProjectPolicyInput,
    ProjectPolicyOutput,
    ProjectUpdateInput,
    VersionAtOutput,
    VersionHistoryOutput,
    VersionOutput,
    VersionUpdateInput,
)
from projects.models import Baseline, Project, ProjectPolicy, Version, VersionHistory
from projects.selectors import as_uuid

PROJECT_PK = OpenApiParameter("project_pk", OpenApiTypes.UUID, OpenApiParameter.PATH, description="Project id.")
UUID_PK = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH)


@extend_schema_view(
    list=extend_schema(summary="Projects you may see", responses=ProjectOutput(many=True)),
    retrieve=extend_schema(parameters=[UUID_PK], summary="A project with its versions and judge-vs-human agreement"),
    destroy=extend_schema(parameters=[UUID_PK], summary="Delete a project that has no experiments"),
)
class ProjectViewSet(
    ReplicaReadMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    request: SignedInRequest
    filterset_class = ProjectFilter
    ordering_fields = ["name", "created_at", "updated_at"]
    ordering = ["-created_at"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    serializer_class = ProjectOutput

    def get_queryset(self):
        return selectors.project_list(user=self.request.user)

    def get_object(self):
        project = selectors.project_get(user=self.request.user, pk=self.kwargs["pk"])
        self.check_object_permissions(self.request, project)
        return project

    def retrieve(self, request, *args, **kwargs):
        # One read of the project through the selector (visibility, 404), its versions prefetched.
        versions = Prefetch("versions", queryset=Version.objects.order_by("tag"))
        try:
            project = selectors.project_list(user=request.user).prefetch_related(versions).get(pk=as_uuid(kwargs["pk"]))
        except Project.DoesNotExist:
            raise NotFound("Project not found.") from None
        context = {**self.get_serializer_context(), "sections": selectors.project_detail_sections(project)}
        return Response(ProjectDetailOutput(project, context=context).data)

    @extend_schema(request=ProjectCreateInput, responses={201: ProjectOutput})
    def create(self, request):
        data = ProjectCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        owner = request.user
        owner_id = values.pop("owner", None)
        if owner_id is not None and owner_id != request.user.pk:
            if not request.user.is_admin_role:
                raise PermissionDenied("Only administrators create projects for other users.")
            owner = User.objects.filter(pk=owner_id, is_active=True).first()
            if owner is None:
                raise ValidationFailed.field("owner", "No active user with this id.")
        project = services.project_create(owner=owner, actor=request.user, **values)
        return Response(ProjectOutput(project).data, status=status.HTTP_201_CREATED)

    @extend_schema(parameters=[UUID_PK], request=ProjectUpdateInput, responses={200: ProjectOutput})
    def partial_update(self, request, pk=None):
        project = self.get_object()
        data = ProjectUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        project = services.project_update(project=project, actor=request.user, **data.validated_data)
        return Response(ProjectOutput(project).data)

    def perform_destroy(self, instance):
        services.project_delete(project=instance, actor=self.request.user)

    @extend_schema(parameters=[UUID_PK], request=None, responses={200: ProjectOutput})
    @action(detail=True, methods=["post"])
    def archive(self, request, pk=None):
        project = services.project_archive(project=self.get_object(), actor=request.user)
        return Response(ProjectOutput(project).data)

    @extend_schema(parameters=[UUID_PK], request=None, responses={200: ProjectOutput})
    @action(detail=True, methods=["post"])
    def unarchive(self, request, pk=None):
        project = services.project_unarchive(project=self.get_object(), actor=request.user)
        return Response(ProjectOutput(project).data)


if TYPE_CHECKING:
    # What ProjectScoped is mixed into, for mypy (at run time a plain mixin).
    _ViewSet = viewsets.GenericViewSet
else:
    _ViewSet = object


class ProjectScoped(_ViewSet):
    """Nested under /projects/{project_pk}/: the project is fetched once, with visibility."""

    request: SignedInRequest  # every view it goes into lets only active users in
    kwargs: dict[str, Any]

    def get_project(self):
        if not hasattr(self, "_project"):
            self._project = selectors.project_get(user=self.request.user, pk=self.kwargs["project_pk"])
        return self._project


TAG = OpenApiParameter("tag", OpenApiTypes.STR, OpenApiParameter.PATH, enum=["v1", "v2", "v3"])
TS = OpenApiParameter(
    "ts", OpenApiTypes.DATETIME, OpenApiParameter.QUERY, required=True, description="ISO 8601 date-time."
)


@extend_schema_view(
    list=extend_schema(parameters=[PROJECT_PK], summary="The project's v1/v2/v3 versions"),
    retrieve=extend_schema(parameters=[PROJECT_PK, TAG]),
)
class VersionViewSet(
    ReplicaReadMixin, ProjectScoped, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = VersionOutput
    lookup_field = "tag"
    lookup_value_regex = "[^/]+"
    http_method_names = ["get", "patch", "head", "options"]
    filter_backends = [QueryNamesOnly]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request kwargs
            return Version.objects.none()
        return selectors.version_list(project=self.get_project())

    def get_object(self):
        return selectors.version_get(project=self.get_project(), tag=self.kwargs["tag"])

    @extend_schema(
        parameters=[PROJECT_PK, TAG],
        request=VersionUpdateInput,
        responses={200: VersionOutput},
        summary="Edit changelog or model_config (writes version_history)",
    )
    def partial_update(self, request, project_pk=None, tag=None):
        version = self.get_object()
        data = VersionUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        version = services.version_update(version=version, actor=request.user, **data.validated_data)
        return Response(VersionOutput(version).data)

    @extend_schema(
        parameters=[PROJECT_PK, TAG, TS],
        responses={200: VersionAtOutput},
        summary="Which model_config this version held at a moment (from version_history)",
    )
    @action(detail=True, methods=["get"])
    def at(self, request, project_pk=None, tag=None):
        version = self.get_object()
        ts = selectors.parse_ts(request.query_params.get("ts"))
        return Response(VersionAtOutput(selectors.version_config_at(version=version, ts=ts)).data)


@extend_schema(
    parameters=[OpenApiParameter("pk", OpenApiTypes.UUID, OpenApiParameter.PATH)],
    summary="The version_history of one version, newest first",
)
class VersionHistoryView(ReplicaReadMixin, ListAPIView):
    serializer_class = VersionHistoryOutput
    filterset_class = VersionHistoryFilter
    ordering_fields = ["created_at"]
    ordering = ["-created_at"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request kwargs
            return VersionHistory.objects.none()
        version = selectors.version_get_by_id(user=self.request.user, pk=self.kwargs["pk"])
        return selectors.version_history_list(version=version)


@extend_schema_view(
    list=extend_schema(parameters=[PROJECT_PK]),
    retrieve=extend_schema(parameters=[PROJECT_PK, UUID_PK]),
    destroy=extend_schema(parameters=[PROJECT_PK, UUID_PK]),
)
class BaselineViewSet(
    ReplicaReadMixin,
    ProjectScoped,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = BaselineOutput
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    filterset_class = BaselineFilter
    ordering_fields = ["metric_key", "created_at"]
    ordering = ["metric_key", "created_at"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request kwargs
            return Baseline.objects.none()
        return selectors.baseline_list(project=self.get_project())

    def get_object(self):
        return selectors.baseline_get(project=self.get_project(), pk=self.kwargs["pk"])

    @extend_schema(parameters=[PROJECT_PK], request=BaselineInput, responses={201: BaselineOutput})
    def create(self, request, project_pk=None):
        data = BaselineInput(data=request.data)
        data.is_valid(raise_exception=True)
        baseline = services.baseline_create(project=self.get_project(), actor=request.user, **data.validated_data)
        return Response(BaselineOutput(baseline).data, status=status.HTTP_201_CREATED)

    @extend_schema(parameters=[PROJECT_PK, UUID_PK], request=BaselineUpdateInput, responses={200: BaselineOutput})
    def partial_update(self, request, project_pk=None, pk=None):
        baseline = self.get_object()
        data = BaselineUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        baseline = services.baseline_update(baseline=baseline, actor=request.user, **data.validated_data)
        return Response(BaselineOutput(baseline).data)

    def perform_destroy(self, instance):
        services.baseline_delete(baseline=instance, actor=self.request.user)


POLICY_ID = OpenApiParameter("policy_id", OpenApiTypes.UUID, OpenApiParameter.PATH)


@extend_schema_view(list=extend_schema(parameters=[PROJECT_PK], summary="Policies attached to the project"))
class ProjectPolicyViewSet(ReplicaReadMixin, ProjectScoped, mixins.ListModelMixin, viewsets.GenericViewSet):
    created_location = "/api/v1/policies/{policy[id]}/"  # the attached policy
    serializer_class = ProjectPolicyOutput
    lookup_field = "policy_id"
    filter_backends = [QueryNamesOnly]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request kwargs
            return ProjectPolicy.objects.none()
        return selectors.project_policy_list(project=self.get_project())

    @extend_schema(
        parameters=[PROJECT_PK],
        request=ProjectPolicyInput,
        responses={201: ProjectPolicyOutput},
        summary="Attach a policy to the project",
    )
    def create(self, request, project_pk=None):
        data = ProjectPolicyInput(data=request.data)
        data.is_valid(raise_exception=True)
        policy = selectors.policy_get(pk=data.validated_data["policy"])
        link = services.project_policy_attach(project=self.get_project(), policy=policy, actor=request.user)
        return Response(ProjectPolicyOutput(link).data, status=status.HTTP_201_CREATED)

    @extend_schema(parameters=[PROJECT_PK, POLICY_ID], responses={204: None}, summary="Detach a policy")
    def destroy(self, request, project_pk=None, policy_id=None):
        policy = selectors.policy_get(pk=policy_id)
        services.project_policy_detach(project=self.get_project(), policy=policy, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    retrieve=extend_schema(parameters=[UUID_PK]),
    destroy=extend_schema(parameters=[UUID_PK]),
)
class PolicyViewSet(
    ReplicaReadMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    request: SignedInRequest
    serializer_class = PolicyOutput
    permission_classes = [AdminWritesOthersRead]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    filterset_class = PolicyFilter
    ordering_fields = ["name", "created_at"]
    ordering = ["name"]

    def get_queryset(self):
        return selectors.policy_list()

    def get_object(self):
        return selectors.policy_get(pk=self.kwargs["pk"])

    @extend_schema(request=PolicyInput, responses={201: PolicyOutput})
    def create(self, request):
        data = PolicyInput(data=request.data)
        data.is_valid(raise_exception=True)
        policy = services.policy_create(actor=request.user, **data.validated_data)
        return Response(PolicyOutput(policy).data, status=status.HTTP_201_CREATED)

    @extend_schema(parameters=[UUID_PK], request=PolicyUpdateInput, responses={200: PolicyOutput})
    def partial_update(self, request, pk=None):
        policy = self.get_object()
        data = PolicyUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(
            PolicyOutput(services.policy_update(policy=policy, actor=request.user, **data.validated_data)).data
        )

    def perform_destroy(self, instance):
        services.policy_delete(policy=instance, actor=self.request.user)
