"""core.sqljson: what PostgreSQL writes is what DRF would write."""

import json
import uuid
from datetime import UTC, datetime

import pytest
from django.db.models import F, TextField, Value
from django.db.models.functions import Cast, Upper
from rest_framework import serializers

from accounts.models import User
from core import lookups, sqljson
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
def test_iso_datetime_writes_what_drf_writes(moment, make_user):
    expected = serializers.DateTimeField().to_representation(moment)
    user = make_user("user")
    User.objects.filter(pk=user.pk).update(created_at=moment, last_login=None)
    rendered, null = User.objects.filter(pk=user.pk).values_list(
        sqljson.IsoDateTime(F("created_at")), sqljson.IsoDateTime(F("last_login"))
    )[0]
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


def test_only_plain_columns_or_given_expressions_are_rendered_in_sql():
    assert sqljson.document(_BigAsText, User) is None  # DRF writes it as a string
    assert sqljson.document(_Plain, User) is not None
    assert sqljson.document(_WithMethod, User) is None  # Python computes it
    assert sqljson.document(_WithNested, User) is None  # a path through a relation
    assert sqljson.document(_WithMethod, User, {"shout": Upper("email")}) is not None


@pytest.mark.django_db
def test_documents_equal_the_serializer_output_row_by_row(make_user):
    odd = 'Zoë "quoted" back\\slash\nline\u2028sep\ttab'
    users = [make_user("user", name=odd), make_user("admin"), make_user("viewer")]
    User.objects.filter(pk=users[1].pk).update(created_at=datetime(2026, 1, 1, tzinfo=UTC), failed_login_attempts=3)
    queryset = User.objects.filter(pk__in=[u.pk for u in users]).order_by("email")
    document = sqljson.document(_Plain, User)
    texts = list(sqljson.documents(queryset, document))

    assert [json.loads(t) for t in texts] == [dict(_Plain(u).data) for u in queryset]
    assert [list(json.loads(t)) for t in texts] == [list(_Plain.Meta.fields)] * 3  # key order kept
    assert odd in [json.loads(t)["name"] for t in texts]


@pytest.mark.django_db
def test_a_given_expression_reads_the_querysets_own_annotation(make_user):
    users = [make_user("user"), make_user("admin")]
    queryset = User.objects.filter(pk__in=[u.pk for u in users]).annotate(shout=Upper("email")).order_by("email")
    texts = list(sqljson.documents(queryset, sqljson.document(_WithMethod, User, {"shout": F("shout")})))
    assert [json.loads(t)["shout"] for t in texts] == [u.email.upper() for u in queryset]


@pytest.mark.django_db
def test_counted_page_counts_the_querysets_rows_and_reads_one_page(make_user):
    users = [make_user("user") for _ in range(5)]
    queryset = User.objects.filter(pk__in=[u.pk for u in users]).order_by("email")
    document = sqljson.document(_Plain, User)
    total, page = sqljson.counted_page(queryset, document, 2, 2)
    assert total == 5
    assert [json.loads(t)["email"] for t in page] == [u.email for u in queryset[2:4]]
    # A count given as an expression is read instead of counting the rows.
    total, page = sqljson.counted_page(queryset, document, 0, 2, count=Value(41))
    assert (total, len(page)) == (41, 2)
    # An empty first page counts nothing; an empty later one is out of range.
    assert sqljson.counted_page(queryset.none(), document, 0, 2) == (0, [])
    assert sqljson.counted_page(queryset.filter(email="nobody"), document, 0, 2) == (0, [])
    assert sqljson.counted_page(queryset, document, 10, 2) == (None, [])


@pytest.mark.django_db
def test_a_nested_list_keeps_the_querysets_order_and_is_empty_not_null(make_user):
    from django.db.models import OuterRef

    users = [make_user("user") for _ in range(3)]
    nested = sqljson.json_list(User.objects.filter(pk=OuterRef("pk")).order_by("email"), _Plain)
    text = sqljson.documents(User.objects.filter(pk=users[0].pk), Cast(nested, TextField()))[0]
    assert json.loads(text) == [dict(_Plain(users[0]).data)]
    none = sqljson.json_list(User.objects.filter(pk=OuterRef("pk"), email="nobody"), _Plain)
    assert sqljson.documents(User.objects.filter(pk=users[0].pk), Cast(none, TextField()))[0] == "[]"


@pytest.mark.django_db
def test_a_compiled_lookup_answers_as_the_queryset_does_prepared_once(make_user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    users = [make_user("user") for _ in range(3)]
    document = sqljson.document(_Plain, User)
    texts = sqljson.documents(User.objects.all(), document)

    def build(*, pk, but_not):
        return texts.filter(pk=pk).exclude(pk=but_not)

    key = ("test", document)
    for user, other in zip(users, users[1:] + users[:1], strict=True):
        with CaptureQueriesContext(connection) as queries:
            found = sqljson.first_document_compiled(key, build, pk=user.pk, but_not=other.pk)
            excluded = sqljson.first_document_compiled(key, build, pk=user.pk, but_not=user.pk)
        assert json.loads(found) == dict(_Plain(user).data)
        assert excluded is None
        assert len(queries.captured_queries) == 2
    assert sqljson.first_document_compiled(key, build, pk=uuid.uuid4(), but_not=users[0].pk) is None
    # One statement prepared on the connection for the lot, whatever the values.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s AND statement LIKE %s",
            ['%FROM "users"%', "%$1%"],
        )
        assert cursor.fetchone()[0] == 1


@pytest.mark.django_db
def test_a_value_used_twice_is_compiled_in_both_places(make_user):
    from django.db.models import Q

    user, other = make_user("user"), make_user("user")
    document = sqljson.document(_Plain, User)
    texts = sqljson.documents(User.objects.all(), document)

    def twice(*, pk):  # the value appears twice among the parameters
        return texts.filter(Q(pk=pk) | Q(pk=pk, is_active=True))

    key = ("test-twice", document)
    assert lookups.statement(key, twice, ("pk",)) is not None
    for each in (user, other):
        assert json.loads(sqljson.first_document_compiled(key, twice, pk=each.pk))["id"] == str(each.pk)


@pytest.mark.django_db
def test_a_query_whose_values_are_not_plain_parameters_is_not_compiled(make_user):
    user = make_user("user")
    rows = User.objects.order_by("email").values_list("email", flat=True)

    def containing(*, text):  # the value becomes "%text%"
        return rows.filter(email__icontains=text)[:5]

    def ignoring(*, text):  # the value shapes nothing in the SQL
        return rows[:5]

    def dropping(*, when):  # a date-time Django may not pass as it is
        return rows.filter(created_at__date=when.date())[:5]

    assert lookups.page_statement(("test-containing",), containing, {"text": user.email}) is None
    assert lookups.page_statement(("test-ignoring",), ignoring, {"text": user.email}) is None
    assert lookups.page_statement(("test-dropping",), dropping, {"when": user.created_at}) is None
    assert lookups.page_statement(("test-decimal",), ignoring, {"text": 1.5}) is None  # no stand-in for a float

    def as_text_too(*, pk):  # the id found as itself, and again as text in another parameter
        return rows.filter(pk=pk).exclude(email__startswith=str(pk))[:5]

    assert lookups.page_statement(("test-as-text",), as_text_too, {"pk": user.pk}) is None


@pytest.mark.django_db
def test_a_compiled_page_answers_for_each_value_as_the_queryset_does(make_user):
    users = [make_user("user") for _ in range(3)]
    emails = User.objects.order_by("email").values_list("email", flat=True)

    def after(*, since, role):
        return emails.filter(created_at__gte=since, role=role)[:10]

    compiled = lookups.page_statement(("test-after",), after, {"since": users[0].created_at, "role": "user"})
    assert compiled is not None
    for user in users:
        for role in ("user", "admin"):
            expected = list(after(since=user.created_at, role=role))
            assert [row[0] for row in compiled.rows(since=user.created_at, role=role)] == expected
