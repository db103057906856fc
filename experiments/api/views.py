"""Experiments API (API.md "Experiments"): validate input, fetch through selectors
(visibility: another user's experiment is a 404), call the service, serialize."""

import functools

from django.db.models import Expression, F
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
from core.permissions import AdminWritesOthersRead
from experiments import selectors, services
from experiments.api.filters import (
    BlacklistFilter,
    ComparisonFilter,
    EvaluationFilter,
    ExperimentFilter,
    PromotionFilter,
)
from experiments.api.serializers import (
    BlacklistCreateInput,
    BlacklistOutput,
    BlacklistUpdateInput,
    ComparisonInput,
    ComparisonOutput,
    DecisionInput,
    EvaluationInput,
    EvaluationOutput,
    ExperimentCreateInput,
    ExperimentOutput,
    ExperimentUpdateInput,
    LiftInput,
    OverrideInput,
    PromotionCreateInput,
    PromotionOutput,
    QuarantineInput,
    QuarantineResultOutput,
    TransitionInput,
)
from experiments.models import Evaluation, Experiment
from projects.selectors import version_get_by_id

UUID_PK = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH)
EXPERIMENT_PK = OpenApiParameter("experiment_pk", OpenApiTypes.UUID, OpenApiParameter.PATH)


def _field_404(field: str, exc: NotFound) -> ValidationFailed:
    """An id in the body that names nothing visible is a 400 on that field."""
    return ValidationFailed.field(field, exc.message)


@functools.cache
def _detail_document() -> Expression | None:
    """ExperimentOutput as JSON text over experiment_list's rows (core.sqljson), its
    `verdict` read from the selector's annotation."""
    return sqljson.document(ExperimentOutput, Experiment, {"verdict": F("verdict")})


@extend_schema_view(
    list=extend_schema(summary="Experiments you may see (filter, order, paginate)"),
    retrieve=extend_schema(parameters=[UUID_PK]),
)
class ExperimentViewSet(
    ReplicaReadMixin,
    SqlRenderedListMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = ExperimentOutput
    filterset_class = ExperimentFilter
    tally_column = "status"  # an admin's list by status alone is counted from the tally
    ordering_fields = ["created_at", "updated_at", "name", "status"]
    ordering = ["-created_at"]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return selectors.experiment_list(user=self.request.user)

    def visible_rows(self):
        return selectors.experiment_list_parts(user=self.request.user)

    def lists_every_row(self):
        return selectors.sees_every_experiment(self.request.user)

    def sql_output_fields(self):
        return {"verdict": F("verdict")}  # experiment_list's annotation

    def retrieve(self, request, *args, **kwargs):
        # Visibility is the selector's, as in get_object; the permission classes here have
        # no object-level rule that get_object's check_object_permissions would add.
        document = _detail_document()
        if document is None or not may_prerender(request):
            return super().retrieve(request, *args, **kwargs)
        body = selectors.experiment_get_document(user=request.user, pk=kwargs["pk"], document=document)
        return Response(PreRendered(body.encode("utf-8")))

    def get_object(self):
        experiment = selectors.experiment_get(user=self.request.user, pk=self.kwargs["pk"])
        self.check_object_permissions(self.request, experiment)
        return experiment

    @extend_schema(
        request=ExperimentCreateInput, responses={201: ExperimentOutput}, summary="Create an experiment in v1"
    )
    def create(self, request):
        data = ExperimentCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            # The service fetches and share-locks the project with the caller's visibility.
            experiment = services.experiment_create(actor=request.user, **data.validated_data)
        except NotFound as exc:
            raise _field_404("project", exc) from None
        return Response(ExperimentOutput(experiment).data, status=status.HTTP_201_CREATED)

    @extend_schema(parameters=[UUID_PK], request=ExperimentUpdateInput, responses={200: ExperimentOutput})
    def partial_update(self, request, pk=None):
        experiment = self.get_object()
        data = ExperimentUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        experiment = services.experiment_update(experiment=experiment, actor=request.user, **data.validated_data)
        return Response(ExperimentOutput(experiment).data)

    @extend_schema(
        parameters=[UUID_PK],
        request=TransitionInput,
        responses={200: ExperimentOutput},
        summary="Move along the status machine (409 invalid_transition otherwise)",
    )
    @action(detail=True, methods=["post"])
    def transition(self, request, pk=None):
        data = TransitionInput(data=request.data)
        data.is_valid(raise_exception=True)
        experiment = services.experiment_transition(
            experiment=self.get_object(), actor=request.user, **data.validated_data
        )
        return Response(ExperimentOutput(experiment).data)

    @extend_schema(
        parameters=[UUID_PK],
        request=QuarantineInput,
        responses={200: QuarantineResultOutput},
        summary="Quarantine a failed or evaluating experiment (admin)",
        description="Experiment, quarantine record and blacklist row change in one transaction.",
    )
    @action(detail=True, methods=["post"])
    def quarantine(self, request, pk=None):
        data = QuarantineInput(data=request.data)
        data.is_valid(raise_exception=True)
        record = services.experiment_quarantine(experiment=self.get_object(), actor=request.user, **data.validated_data)
        experiment = selectors.experiment_get(user=request.user, pk=pk)
        entry = selectors.blacklist_list().get(config_hash=experiment.config_hash)
        return Response(
            QuarantineResultOutput(
                {"experiment": experiment, "quarantine_record": record.pk, "blacklist": entry.pk}
            ).data
        )


@extend_schema_view(list=extend_schema(parameters=[EXPERIMENT_PK], summary="Evaluations of an experiment"))
class ExperimentEvaluationViewSet(ReplicaReadMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    created_location = "/api/v1/evaluations/{id}/"
    serializer_class = EvaluationOutput
    filterset_class = EvaluationFilter
    ordering_fields = ["created_at", "evaluated_at"]
    ordering = ["-created_at"]

    def get_experiment(self):
        if not hasattr(self, "_experiment"):
            self._experiment = selectors.experiment_get(user=self.request.user, pk=self.kwargs["experiment_pk"])
        return self._experiment

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request kwargs
            return Evaluation.objects.none()
        return selectors.evaluation_list(experiment=self.get_experiment())

    @extend_schema(
        parameters=[EXPERIMENT_PK],
        request=EvaluationInput,
        responses={201: EvaluationOutput},
        summary="Submit metrics: the AI verdict is computed against the project's active baselines",
    )
    def create(self, request, experiment_pk=None):
        data = EvaluationInput(data=request.data)
        data.is_valid(raise_exception=True)
        evaluation = services.evaluation_submit(
            experiment=self.get_experiment(), actor=request.user, **data.validated_data
        )
        return Response(EvaluationOutput(evaluation).data, status=status.HTTP_201_CREATED)


@extend_schema_view(retrieve=extend_schema(parameters=[UUID_PK]))
class EvaluationViewSet(ReplicaReadMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = EvaluationOutput
    filter_backends = [QueryNamesOnly]

    def get_object(self):
        return selectors.evaluation_get(user=self.request.user, pk=self.kwargs["pk"])

    @extend_schema(
        parameters=[UUID_PK],
        request=OverrideInput,
        responses={200: EvaluationOutput},
        summary="Override the AI verdict (admin, with a reason)",
    )
    @action(detail=True, methods=["post"])
    def override(self, request, pk=None):
        data = OverrideInput(data=request.data)
        data.is_valid(raise_exception=True)
        evaluation = services.evaluation_override(
            evaluation=self.get_object(), actor=request.user, **data.validated_data
        )
        return Response(EvaluationOutput(evaluation).data)


@extend_schema_view(retrieve=extend_schema(parameters=[UUID_PK]))
class PromotionViewSet(ReplicaReadMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = PromotionOutput
    filterset_class = PromotionFilter
    ordering_fields = ["created_at", "updated_at", "status"]
    ordering = ["-created_at"]

    def get_queryset(self):
        return selectors.promotion_list(user=self.request.user)

    def get_object(self):
        return selectors.promotion_get(user=self.request.user, pk=self.kwargs["pk"])

    @extend_schema(
        request=PromotionCreateInput, responses={201: PromotionOutput}, summary="Propose a passing experiment"
    )
    def create(self, request):
        data = PromotionCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            experiment = selectors.experiment_get(user=request.user, pk=data.validated_data["experiment"])
        except NotFound as exc:
            raise _field_404("experiment", exc) from None
        promotion = services.promotion_request(
            experiment=experiment, actor=request.user, reason=data.validated_data["reason"]
        )
        return Response(PromotionOutput(promotion).data, status=status.HTTP_201_CREATED)

    def _decide(self, request, service):
        data = DecisionInput(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(
            PromotionOutput(service(promotion=self.get_object(), actor=request.user, **data.validated_data)).data
        )

    @extend_schema(
        parameters=[UUID_PK],
        request=DecisionInput,
        responses={200: PromotionOutput},
        summary="Approve (admin, not the requester)",
    )
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        return self._decide(request, services.promotion_approve)

    @extend_schema(
        parameters=[UUID_PK],
        request=DecisionInput,
        responses={200: PromotionOutput},
        summary="Reject (admin, not the requester)",
    )
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        return self._decide(request, services.promotion_reject)

    @extend_schema(
        parameters=[UUID_PK],
        request=None,
        responses={200: PromotionOutput},
        summary="Complete: copy the config into v2 and mark the experiment promoted (admin, not the requester)",
    )
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        promotion = services.promotion_complete(promotion=self.get_object(), actor=request.user)
        return Response(PromotionOutput(promotion).data)


@extend_schema_view(
    retrieve=extend_schema(parameters=[UUID_PK]),
)
class BlacklistViewSet(ReplicaReadMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = BlacklistOutput
    permission_classes = [AdminWritesOthersRead]
    filterset_class = BlacklistFilter
    ordering_fields = ["quarantined_at", "updated_at"]
    ordering = ["-quarantined_at"]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return selectors.blacklist_list(user=self.request.user)

    def get_object(self):
        return selectors.blacklist_get(pk=self.kwargs["pk"])

    @extend_schema(request=BlacklistCreateInput, responses={201: BlacklistOutput}, summary="Blacklist a config (admin)")
    def create(self, request):
        data = BlacklistCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        entry = services.blacklist_add(actor=request.user, **data.validated_data)
        return Response(BlacklistOutput(entry).data, status=status.HTTP_201_CREATED)

    @extend_schema(parameters=[UUID_PK], request=BlacklistUpdateInput, responses={200: BlacklistOutput})
    def partial_update(self, request, pk=None):
        entry = self.get_object()
        data = BlacklistUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        entry = services.blacklist_review(entry=entry, actor=request.user, **data.validated_data)
        return Response(BlacklistOutput(entry).data)

    @extend_schema(
        parameters=[UUID_PK],
        request=LiftInput,
        responses={200: BlacklistOutput},
        summary="Lift a hand-made entry (quarantined configs come back only by re-evaluation)",
    )
    @action(detail=True, methods=["post"])
    def lift(self, request, pk=None):
        data = LiftInput(data=request.data)
        data.is_valid(raise_exception=True)
        entry = services.blacklist_lift(entry=self.get_object(), actor=request.user, **data.validated_data)
        return Response(BlacklistOutput(entry).data)


@extend_schema_view(retrieve=extend_schema(parameters=[UUID_PK]))
class ComparisonReportViewSet(
    ReplicaReadMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = ComparisonOutput
    filterset_class = ComparisonFilter
    ordering_fields = ["created_at", "confidence"]
    ordering = ["-created_at"]

    def get_queryset(self):
        return selectors.comparison_list(user=self.request.user)

    def get_object(self):
        return selectors.comparison_get(user=self.request.user, pk=self.kwargs["pk"])

    @extend_schema(
        request=ComparisonInput,
        responses={201: ComparisonOutput},
        summary="Compare a v1 experiment with its project's v2 version (server computes deltas and recommendation)",
    )
    def create(self, request):
        data = ComparisonInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        try:
            experiment = selectors.experiment_get(user=request.user, pk=values.pop("v1_experiment"))
        except NotFound as exc:
            raise _field_404("v1_experiment", exc) from None
        try:
            version = version_get_by_id(user=request.user, pk=values.pop("v2_version"))
        except NotFound as exc:
            raise _field_404("v2_version", exc) from None
        report = services.comparison_create(experiment=experiment, v2_version=version, actor=request.user, **values)
        return Response(ComparisonOutput(report).data, status=status.HTTP_201_CREATED)
