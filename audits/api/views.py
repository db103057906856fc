import time

from drf_spectacular.utils import extend_schema
from rest_framework import generics, mixins, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from audits import selectors
from audits.api.filters import AuditLogFilter, StatisticFilter
from audits.api.serializers import AuditEntryOutput, StatisticOutput, VerifyInput, VerifyOutput
from audits.services import verification_record
from audits.verify import verify_chain
from core.db.replica_views import ReplicaReadMixin
from core.pagination import LogCursorPagination, PagePagination
from core.permissions import AdminOnly


class AuditLogCursorPagination(LogCursorPagination):
    ordering = ("-ts", "-id")


@extend_schema(tags=["audit"])
class AuditLogViewSet(ReplicaReadMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The audit log (admin only): read-only, cursor-paginated (`cursor`, `page_size` up
    to 200), newest first unless `ordering=ts` (oldest first). Filter with entity, action,
    actor, object_id (one object's history), ts_after, ts_before; time bounds prune
    partitions."""

    permission_classes = [AdminOnly]
    serializer_class = AuditEntryOutput
    filterset_class = AuditLogFilter
    pagination_class = AuditLogCursorPagination
    ordering_fields = ["ts"]  # a cursor needs one (near-)unique order; ties by id follow it
    ordering = ["-ts", "-id"]

    def get_queryset(self):
        return selectors.audit_log_list()

    @extend_schema(parameters=[VerifyInput], responses={200: VerifyOutput})
    @action(detail=False, methods=["get"])
    def verify(self, request):
        """Recompute the chain (optionally from `since`): ok, entries checked, first broken link."""
        data = VerifyInput(data=request.query_params)
        data.is_valid(raise_exception=True)
        started = time.monotonic()
        result = verify_chain(since=data.validated_data.get("since"))
        verification_record(
            result=result,
            source="api",
            since=data.validated_data.get("since"),
            actor=request.user,
            duration_ms=int((time.monotonic() - started) * 1000),
        )
        return Response(VerifyOutput(result.as_dict()).data)


@extend_schema(tags=["audit"])
class StatisticsView(ReplicaReadMixin, generics.ListAPIView):
    """Entries per day, entity and action (the audits.statistics view), newest day first."""

    permission_classes = [AdminOnly]
    serializer_class = StatisticOutput
    filterset_class = StatisticFilter
    pagination_class = PagePagination
    ordering_fields = ["day", "count"]

    def get_queryset(self):
        return selectors.statistics_list()
