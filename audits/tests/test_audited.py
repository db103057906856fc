"""audits.audited: a change and its entry as one statement. The entry is written only
with its change, is sealed and verifies like any other, and the checks of audit_record
refuse a bad entry before anything is sent."""

import pytest
from django.db import connection, transaction

from accounts.models import User
from audits.models import AuditEntry
from audits.services import SecretInAuditPayload, audited
from audits.verify import verify_chain
from core.db import rows


def _rename(user, name: str, *, where_name: str):
    return rows.update_statement(User, user.pk, {"name": name}, where={"name": where_name})


@pytest.mark.django_db(transaction=True)
def test_the_change_and_its_entry_are_written_together(regular_user):
    before = regular_user.name
    with transaction.atomic(), connection.cursor() as cursor:
        sql, params = audited(
            _rename(regular_user, "Renamed", where_name=before),
            entity="user",
            action="rename",
            actor=regular_user,
            payload={"id": str(regular_user.pk), "to": "Renamed"},
        )
        cursor.execute(sql, params)
        assert cursor.rowcount == 1
    regular_user.refresh_from_db()
    assert regular_user.name == "Renamed"
    [entry] = AuditEntry.objects.filter(entity="user", action="rename", payload__id=str(regular_user.pk))
    assert entry.actor == regular_user.pk and entry.payload["to"] == "Renamed"
    assert entry.chain_seq is not None  # sealed after the commit, as audit_record's entries are
    assert verify_chain().ok


@pytest.mark.django_db
def test_a_change_that_matches_no_row_writes_no_entry(regular_user):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            *audited(
                _rename(regular_user, "Never", where_name="not the current name"),
                entity="user",
                action="rename",
                payload={"id": str(regular_user.pk)},
            )
        )
        assert cursor.rowcount == 0
    assert not AuditEntry.objects.filter(entity="user", action="rename", payload__id=str(regular_user.pk)).exists()
    regular_user.refresh_from_db()
    assert regular_user.name != "Never"


@pytest.mark.django_db
def test_a_bad_entry_is_refused_before_anything_is_sent(regular_user):
    before = regular_user.name
    with transaction.atomic(), pytest.raises(SecretInAuditPayload):
        audited(
            _rename(regular_user, "Leaky", where_name=before),
            entity="user",
            action="rename",
            payload={"password": "hunter2"},
        )
    regular_user.refresh_from_db()
    assert regular_user.name == before


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_it_is_refused(regular_user):
    with pytest.raises(RuntimeError, match=r"transaction\.atomic"):
        audited(_rename(regular_user, "x", where_name=regular_user.name), entity="user", action="rename")
