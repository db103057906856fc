from rest_framework import serializers

from audits.models import AuditLogRow, Statistic
from core.json_types import TypedInput
from core.serializers import CachedFieldsOutput


class AuditEntryOutput(CachedFieldsOutput, serializers.ModelSerializer):
    sealed = serializers.BooleanField(read_only=True)

    class Meta:
        model = AuditLogRow
        fields = ["id", "ts", "entity", "action", "actor", "payload", "chain_seq", "prev_hash", "signature", "sealed"]
        read_only_fields = fields


class StatisticOutput(CachedFieldsOutput, serializers.ModelSerializer):
    class Meta:
        model = Statistic
        fields = ["day", "entity", "action", "count"]
        read_only_fields = fields


class BrokenLinkOutput(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True)
    ts = serializers.DateTimeField(allow_null=True)
    chain_seq = serializers.IntegerField(allow_null=True)
    reason = serializers.CharField()
    expected = serializers.CharField(allow_null=True)
    found = serializers.CharField(allow_null=True)


class HeadOutput(serializers.Serializer):
    chain_seq = serializers.IntegerField()
    signature = serializers.CharField()


class VerifyOutput(serializers.Serializer):
    ok = serializers.BooleanField()
    checked = serializers.IntegerField()
    first_broken = BrokenLinkOutput(allow_null=True)
    pending = serializers.IntegerField()
    head = HeadOutput()


class VerifyInput(TypedInput):
    since = serializers.DateTimeField(required=False)
