"""Production API (API.md "Production"): validate input, fetch through selectors
(visibility: another user's session is a 404), call the service, serialize."""

import functools

from django.db.models import Expression
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core import sqljson
from core.api.lists import SqlRenderedListMixin
from core.api.renderers import PreRendered, may_prerender
from core.api.strict import QueryNamesOnly
from core.db.replica_views import ReplicaReadMixin
from core.exceptions import NotFound, ValidationFailed
from production import selectors, services, stats
from production.api.filters import SessionFilter
from production.api.serializers import (
    AnalysisSessionCancelInput,
    AnalysisSessionCreateInput,
    AnalysisSessionDetailOutput,
    AnalysisSessionOutput,
    AnalysisSessionTransitionInput,
    AnalysisStatisticsOutput,
    AnalysisStatisticsQuery,
    AnalysisTaskCreateInput,
    AnalysisTaskOutput,
    AnalysisTaskUpdateInput,
    ArtifactCreateInput,
    ArtifactOutput,
    CodeReviewCreateInput,
    CodeReviewOutput,
)
from production.models import AnalysisSession, AnalysisTask, Artifact, CodeReviewResult

UUID_PK = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH)
SESSION_PK = OpenApiParameter("session_pk", OpenApiTypes.UUID, OpenApiParameter.PATH)


@functools.cache
def _detail_document() -> Expression | None:
    """AnalysisSessionDetailOutput as JSON text over session_list's rows (its tasks in
    creation order), or None if a field cannot be rendered in SQL (core.sqljson)."""
    tasks = selectors.session_tasks_json(AnalysisTaskOutput)
    if tasks is None:
        return None
    return sqljson.document(AnalysisSessionDetailOutput, AnalysisSession, {"tasks": tasks})


@extend_schema_view(
    list=extend_schema(summary="Analysis sessions you may see (filter, order, paginate)"),
    retrieve=extend_schema(
        parameters=[UUID_PK], responses=AnalysisSessionDetailOutput, summary="A session with its tasks"
    ),
)
class AnalysisSessionViewSet(
    ReplicaReadMixin, SqlRenderedListMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = AnalysisSessionOutput
    filterset_class = SessionFilter
    tally_column = "status"  # an admin's list by status alone is counted from the tally
    ordering_fields = ["created_at", "started_at", "finished_at", "status"]
    ordering = ["-created_at"]
    http_method_names = ["get", "post", "head", "options"]

    def get_queryset(self):
        return selectors.session_list(user=self.request.user)

    def visible_rows(self):
        return selectors.session_list_parts(user=self.request.user)

    def lists_every_row(self):
        return selectors.sees_every_session(self.request.user)

    def get_object(self):
        session = selectors.session_get(user=self.request.user, pk=self.kwargs["pk"])
        self.check_object_permissions(self.request, session)
        return session

    def retrieve(self, request, pk=None):
        document = _detail_document()
        if document is not None and may_prerender(request):
            body = selectors.session_detail_document(user=request.user, pk=pk, document=document)
            return Response(PreRendered(body.encode("utf-8")))
        session = selectors.session_detail(user=request.user, pk=pk)
        return Response(AnalysisSessionDetailOutput(session).data)

    @extend_schema(
        request=AnalysisSessionCreateInput,
        responses={201: AnalysisSessionOutput},
        summary="Start a session (a named provider checks your quota first: 429 and nothing created)",
    )
    def create(self, request):
        data = AnalysisSessionCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            # The service fetches and share-locks the project with the caller's visibility.
            session = services.session_create(actor=request.user, **data.validated_data)
        except NotFound as exc:
            raise ValidationFailed.field("project", exc.message) from None
        return Response(AnalysisSessionOutput(session).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[UUID_PK],
        request=AnalysisSessionTransitionInput,
        responses={200: AnalysisSessionOutput},
        summary="Move along created → queued → running → completed | failed (409 invalid_transition otherwise)",
    )
    @action(detail=True, methods=["post"])
    def transition(self, request, pk=None):
        data = AnalysisSessionTransitionInput(data=request.data)
        data.is_valid(raise_exception=True)
        session = services.session_transition(session=self.get_object(), actor=request.user, **data.validated_data)
        return Response(AnalysisSessionOutput(session).data)

    @extend_schema(
        parameters=[UUID_PK],
        request=AnalysisSessionCancelInput,
        responses={200: AnalysisSessionOutput},
        summary="Cancel a session that has not finished; its open tasks become skipped",
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        data = AnalysisSessionCancelInput(data=request.data)
        data.is_valid(raise_exception=True)
        session = services.session_cancel(session=self.get_object(), actor=request.user, **data.validated_data)
        return Response(AnalysisSessionOutput(session).data)

    @extend_schema(
        parameters=[AnalysisStatisticsQuery],
        responses={200: AnalysisStatisticsOutput},
        summary="Sessions per day and status, task durations per type, review scores per language",
        description=(
            "Computed in SQL over a window of UTC days: by default the last 30 days, at most 366. "
            "Users get their own sessions' figures; admins and viewers everyone's."
        ),
    )
    @action(detail=False, methods=["get"], filter_backends=[], pagination_class=None)
    def statistics(self, request):
        query = AnalysisStatisticsQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        figures = stats.session_statistics(user=request.user, **query.validated_data)
        return Response(AnalysisStatisticsOutput(figures).data)


class _SessionChildViewSet(ReplicaReadMixin, viewsets.GenericViewSet):
    """Resources nested under /analysis-sessions/{session_pk}/: the session is fetched
    with the caller's visibility first (404 when not visible)."""

    filter_backends = [QueryNamesOnly]

    def get_session(self):
        if not hasattr(self, "_session"):
            self._session = selectors.session_get(user=self.request.user, pk=self.kwargs["session_pk"])
        return self._session

    def _fake(self):
        return getattr(self, "swagger_fake_view", False)  # schema generation: no request kwargs


@extend_schema_view(
    list=extend_schema(parameters=[SESSION_PK], summary="Tasks of a session, in creation order"),
    retrieve=extend_schema(parameters=[SESSION_PK, UUID_PK]),
)
class SessionTaskViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, _SessionChildViewSet):
    serializer_class = AnalysisTaskOutput
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        if self._fake():
            return AnalysisTask.objects.none()
        return selectors.task_list(session=self.get_session())

    def get_object(self):
        return selectors.task_get(session=self.get_session(), pk=self.kwargs["pk"])

    @extend_schema(
        parameters=[SESSION_PK],
        request=AnalysisTaskCreateInput,
        responses={201: AnalysisTaskOutput},
        summary="Add a pending task (409 when the session has finished)",
    )
    def create(self, request, session_pk=None):
        data = AnalysisTaskCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        task = services.task_create(session=self.get_session(), actor=request.user, **data.validated_data)
        return Response(AnalysisTaskOutput(task).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[SESSION_PK, UUID_PK],
        request=AnalysisTaskUpdateInput,
        responses={200: AnalysisTaskOutput},
        summary="Move a task (pending → running → completed | failed | skipped) and/or set its result",
        description="The server stamps started_at/finished_at and derives duration_ms. The last task to "
        "finish finishes the session (failed if any task failed, else completed).",
    )
    def partial_update(self, request, session_pk=None, pk=None):
        data = AnalysisTaskUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        task = services.task_update(task=self.get_object(), actor=request.user, **data.validated_data)
        return Response(AnalysisTaskOutput(task).data)


@extend_schema_view(
    list=extend_schema(parameters=[SESSION_PK], summary="Artifacts of a session"),
    retrieve=extend_schema(parameters=[SESSION_PK, UUID_PK]),
)
class SessionArtifactViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, _SessionChildViewSet):
    serializer_class = ArtifactOutput
    http_method_names = ["get", "post", "head", "options"]

    def get_queryset(self):
        if self._fake():
            return Artifact.objects.none()
        return selectors.artifact_list(session=self.get_session())

    def get_object(self):
        return selectors.artifact_get(session=self.get_session(), pk=self.kwargs["pk"])

    @extend_schema(
        parameters=[SESSION_PK],
        request=ArtifactCreateInput,
        responses={201: ArtifactOutput},
        summary="Record an artifact (sha256: 64 lower-case hex; size ≥ 0; a storage URI)",
    )
    def create(self, request, session_pk=None):
        data = ArtifactCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        artifact = services.artifact_create(session=self.get_session(), actor=request.user, **data.validated_data)
        return Response(ArtifactOutput(artifact).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    list=extend_schema(parameters=[SESSION_PK], summary="Code-review results of a session"),
    retrieve=extend_schema(parameters=[SESSION_PK, UUID_PK]),
)
class SessionCodeReviewViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, _SessionChildViewSet):
    serializer_class = CodeReviewOutput
    http_method_names = ["get", "post", "head", "options"]

    def get_queryset(self):
        if self._fake():
            return CodeReviewResult.objects.none()
        return selectors.code_review_list(session=self.get_session())

    def get_object(self):
        return selectors.code_review_get(session=self.get_session(), pk=self.kwargs["pk"])

    @extend_schema(
        parameters=[SESSION_PK],
        request=CodeReviewCreateInput,
        responses={201: CodeReviewOutput},
        summary="Record a code-review result (score 0–100, counts ≥ 0)",
    )
    def create(self, request, session_pk=None):
        data = CodeReviewCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        review = services.code_review_create(session=self.get_session(), actor=request.user, **data.validated_data)
        return Response(CodeReviewOutput(review).data, status=status.HTTP_201_CREATED)
