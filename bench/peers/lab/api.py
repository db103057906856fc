"""The peer's API: what a good team writes with DRF for the experiment resource."""

import hashlib
import json

from django.db import transaction
from django.shortcuts import get_object_or_404
from django.utils import timezone
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from .history import request_actor
from .models import ALLOWED_MOVES, Experiment, Project, Status


class OwnProjectField(serializers.PrimaryKeyRelatedField):
    def get_queryset(self):
        return Project.objects.filter(owner=self.context["request"].user, archived=False)


class ExperimentSerializer(serializers.ModelSerializer):
    project = OwnProjectField()

    class Meta:
        model = Experiment
        fields = [
            "id",
            "project",
            "name",
            "description",
            "version",
            "config",
            "config_hash",
            "dataset_id",
            "status",
            "created_by",
            "created_at",
            "updated_at",
            "started_at",
            "completed_at",
        ]
        read_only_fields = [
            "version",
            "config_hash",
            "status",
            "created_by",
            "created_at",
            "updated_at",
            "started_at",
            "completed_at",
        ]


def config_hash(config) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class TransitionSerializer(serializers.Serializer):
    to = serializers.ChoiceField(choices=Status.choices)


class ExperimentViewSet(
    mixins.CreateModelMixin, mixins.RetrieveModelMixin, mixins.ListModelMixin, viewsets.GenericViewSet
):
    serializer_class = ExperimentSerializer
    filterset_fields = ["project", "status"]

    def get_queryset(self):
        user = self.request.user
        experiments = Experiment.objects.all()
        return experiments if user.is_staff else experiments.filter(project__owner=user)

    def perform_create(self, serializer):
        with transaction.atomic(), request_actor(self.request.user):
            serializer.save(created_by=self.request.user, config_hash=config_hash(serializer.validated_data["config"]))

    @action(detail=True, methods=["post"])
    def transition(self, request, pk=None):
        move = TransitionSerializer(data=request.data)
        move.is_valid(raise_exception=True)
        to = move.validated_data["to"]
        with transaction.atomic(), request_actor(request.user):
            experiment = get_object_or_404(self.get_queryset().select_for_update(of=("self",)), pk=pk)
            if to not in ALLOWED_MOVES[experiment.status]:
                return Response(
                    {"detail": f"Cannot move from {experiment.status} to {to}."}, status=status.HTTP_409_CONFLICT
                )
            experiment.save(update_fields=apply_move(experiment, to))
        return Response(self.get_serializer(experiment).data)


def apply_move(experiment: Experiment, to: str) -> list[str]:
    """Set the new status and its timestamp; returns the fields to save."""
    now = timezone.now()
    experiment.status = to
    if to == Status.RUNNING:
        experiment.started_at = now
    elif to in (Status.COMPLETED, Status.FAILED):
        experiment.completed_at = now
    return ["status", "started_at", "completed_at", "updated_at"]


class MeView(APIView):
    """The authenticated no-op."""

    def get(self, request):
        return Response({"id": request.user.pk, "username": request.user.get_username()})
