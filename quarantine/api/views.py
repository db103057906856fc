"""Quarantine API (API.md "Quarantine"): records are read-only for every role;
re-evaluations are requested by the project's owner (or an admin) and decided by admins."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.db.replica_views import ReplicaReadMixin
from quarantine import selectors, services
from quarantine.api.filters import QuarantineRecordFilter, ReevaluationFilter
from quarantine.api.serializers import (
    QuarantineRecordOutput,
    ReevaluationDecisionInput,
    ReevaluationInput,
    ReevaluationOutput,
    ReevaluationResultInput,
)
from quarantine.models import ReevaluationRequest

UUID_PK = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH)
RECORD_PK = OpenApiParameter("record_pk", OpenApiTypes.UUID, OpenApiParameter.PATH, description="Quarantine record id.")


@extend_schema_view(
    list=extend_schema(summary="Quarantined configurations (read-only archive, every role)"),
    retrieve=extend_schema(parameters=[UUID_PK]),
)
class QuarantineRecordViewSet(ReplicaReadMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = QuarantineRecordOutput
    filterset_class = QuarantineRecordFilter
    ordering_fields = ["quarantined_at", "updated_at"]
    ordering = ["-quarantined_at"]

    def get_queryset(self):
        return selectors.record_list(user=self.request.user)

    def get_object(self):
        return selectors.record_get(user=self.request.user, pk=self.kwargs["pk"])


@extend_schema_view(list=extend_schema(parameters=[RECORD_PK], summary="Re-evaluation requests of a record"))
class RecordReevaluationViewSet(ReplicaReadMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    created_location = "/api/v1/reevaluations/{id}/"
    serializer_class = ReevaluationOutput
    filterset_class = ReevaluationFilter
    ordering_fields = ["created_at", "updated_at"]
    ordering = ["-created_at"]

    def get_record(self):
        if not hasattr(self, "_record"):
            self._record = selectors.record_get(user=self.request.user, pk=self.kwargs["record_pk"])
        return self._record

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request kwargs
            return ReevaluationRequest.objects.none()
        return selectors.reevaluation_list(user=self.request.user, record=self.get_record())

    @extend_schema(
        parameters=[RECORD_PK],
        request=ReevaluationInput,
        responses={201: ReevaluationOutput},
        summary="Ask for a re-evaluation (the project's owner or an admin)",
    )
    def create(self, request, record_pk=None):
        data = ReevaluationInput(data=request.data)
        data.is_valid(raise_exception=True)
        req = services.reevaluation_request(record=self.get_record(), actor=request.user, **data.validated_data)
        return Response(ReevaluationOutput(req).data, status=status.HTTP_201_CREATED)


@extend_schema_view(retrieve=extend_schema(parameters=[UUID_PK]))
class ReevaluationViewSet(ReplicaReadMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = ReevaluationOutput
    filterset_class = ReevaluationFilter
    ordering_fields = ["created_at", "updated_at"]
    ordering = ["-created_at"]

    def get_queryset(self):
        return selectors.reevaluation_list(user=self.request.user)

    def get_object(self):
        return selectors.reevaluation_get(user=self.request.user, pk=self.kwargs["pk"])

    @extend_schema(
        parameters=[UUID_PK],
        request=ReevaluationDecisionInput,
        responses={200: ReevaluationOutput},
        summary="Approve (admin other than the requester): the record goes under_review",
    )
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        data = ReevaluationDecisionInput(data=request.data)
        data.is_valid(raise_exception=True)
        req = services.reevaluation_approve(request=self.get_object(), actor=request.user, **data.validated_data)
        return Response(ReevaluationOutput(req).data)

    @extend_schema(
        parameters=[UUID_PK],
        request=ReevaluationDecisionInput,
        responses={200: ReevaluationOutput},
        summary="Reject (admin)",
    )
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        data = ReevaluationDecisionInput(data=request.data)
        data.is_valid(raise_exception=True)
        req = services.reevaluation_reject(request=self.get_object(), actor=request.user, **data.validated_data)
        return Response(ReevaluationOutput(req).data)

    @extend_schema(
        parameters=[UUID_PK],
        request=ReevaluationResultInput,
        responses={200: ReevaluationOutput},
        summary="Complete with a result (admin): pass → approved_retry and blacklist lifted; fail → quarantined",
    )
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        data = ReevaluationResultInput(data=request.data)
        data.is_valid(raise_exception=True)
        req = services.reevaluation_complete(request=self.get_object(), actor=request.user, **data.validated_data)
        return Response(ReevaluationOutput(req).data)
