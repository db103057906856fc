"""core.sqljson: what PostgreSQL writes is what DRF would write."""

import json
from datetime import UTC, datetime

import pytest
from django.db import connection
from rest_framework import serializers

from accounts.models import User
from core import sqljson
from core.serializers import CachedFieldsOutput


@pytest.mark.django_db
@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC),
        datetime(2026, 11, 22, 10, 0, 0, 1, tzinfo=UTC),
        datetime(2026, 1, 2, 3, 4, 5, 120000, tzinfo=UTC),
        datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(999, 3, 4, 5, 6, 7, tzinfo=UTC),
    ],
)
def test_iso_datetime_sql_writes_what_drf_writes(moment):
    expected = serializers.DateTimeField().to_representation(moment)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {sqljson.iso_datetime_sql('%s::timestamptz')}, {sqljson.iso_datetime_sql('NULL')}", [moment]
        )
        rendered, null = cursor.fetchone()
    assert rendered == expected
    assert null is None


class _Plain(CachedFieldsOutput, serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "name", "role", "is_active", "failed_login_attempts", "created_at", "last_login"]


class _WithMethod(_Plain):
    shout = serializers.SerializerMethodField()

    class Meta(_Plain.Meta):
        fields = [*_Plain.Meta.fields, "shout"]

    def get_shout(self, obj):
        return obj.email.upper()


class _WithNested(_Plain):
    creator = serializers.CharField(source="invited_by.email", default=None)

    class Meta(_Plain.Meta):
        fields = [*_Plain.Meta.fields, "creator"]


class _BigAsText(_Plain):
    failed_login_attempts = serializers.BigIntegerField(coerce_to_string=True)


def test_only_plain_columns_or_given_sql_are_rendered_in_sql():
    assert sqljson.row_document(_BigAsText, User) is None  # DRF writes it as a string
    assert sqljson.row_document(_Plain, User) is not None
    assert sqljson.row_document(_WithMethod, User) is None  # Python computes it
    assert sqljson.row_document(_WithNested, User) is None  # a path through a relation
    assert sqljson.row_document(_WithMethod, User, {"shout": f"upper({sqljson.ROW}.email)"}) is not None


@pytest.mark.django_db
def test_documents_equal_the_serializer_output_row_by_row(make_user):
    odd = 'Zoë "quoted" back\\slash\nline\u2028sep\ttab'
    users = [make_user("user", name=odd), make_user("admin"), make_user("viewer")]
    User.objects.filter(pk=users[1].pk).update(created_at=datetime(2026, 1, 1, tzinfo=UTC), failed_login_attempts=3)
    queryset = User.objects.filter(pk__in=[u.pk for u in users]).order_by("email")
    document = sqljson.row_document(_Plain, User)
    texts = list(sqljson.documents(queryset, document))

    assert [json.loads(t) for t in texts] == [dict(_Plain(u).data) for u in queryset]
    assert [list(json.loads(t)) for t in texts] == [list(_Plain.Meta.fields)] * 3  # key order kept
    assert odd in [json.loads(t)["name"] for t in texts]
