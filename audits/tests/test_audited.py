"""audits.audited: a change and its entry as one statement, after the reads its caller
checks. The entry is written only with its change, is sealed and verifies like any other,
the reads answer in the same statement, and the checks of audit_record refuse a bad
entry before anything is sent."""

import pytest
from django.db import transaction

from accounts.models import User
from audits.models import AuditEntry
from audits.services import Reads, SecretInAuditPayload, audited
from audits.verify import verify_chain
from core.db import rows


def _rename(user, name: str, *, where_name: str):
    return rows.update_statement(User, user.pk, {"name": name}, where={"name": where_name})


@pytest.mark.django_db(transaction=True)
def test_the_change_and_its_entry_are_written_together(regular_user):
    before = regular_user.name
    with transaction.atomic():
        result = audited(
            _rename(regular_user, "Renamed", where_name=before),
            entity="user",
            action="rename",
            actor=regular_user,
            payload={"id": str(regular_user.pk), "to": "Renamed"},
        )
    assert (result.written, result.answers) == (1, None)
    regular_user.refresh_from_db()
    assert regular_user.name == "Renamed"
    [entry] = AuditEntry.objects.filter(entity="user", action="rename", payload__id=str(regular_user.pk))
    assert entry.actor == regular_user.pk and entry.payload["to"] == "Renamed"
    assert entry.chain_seq is not None  # sealed after the commit, as audit_record's entries are
    assert verify_chain().ok


@pytest.mark.django_db
def test_a_change_that_matches_no_row_writes_no_entry(regular_user):
    with transaction.atomic():
        result = audited(
            _rename(regular_user, "Never", where_name="not the current name"),
            entity="user",
            action="rename",
            payload={"id": str(regular_user.pk)},
        )
    assert result.written == 0
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


def _email_of(user_id) -> Reads:
    return Reads(
        ctes="someone AS MATERIALIZED (SELECT email, is_active FROM accounts.users WHERE id = %s FOR SHARE)",
        params=[user_id],
        columns="someone.email, someone.is_active",
        source="someone",
    )


@pytest.mark.django_db
def test_the_reads_answer_in_the_same_statement_and_none_when_their_row_is_missing(regular_user, other_user):
    with transaction.atomic():
        result = audited(
            _rename(regular_user, "Read", where_name=regular_user.name),
            reads=_email_of(other_user.pk),
            entity="user",
            action="rename",
            payload={"id": str(regular_user.pk)},
        )
    assert (result.written, result.answers) == (1, (other_user.email, True))

    with transaction.atomic():
        missing = audited(
            _rename(regular_user, "Read again", where_name="Read"),
            reads=_email_of("00000000-0000-0000-0000-000000000000"),
            entity="user",
            action="rename",
            payload={"id": str(regular_user.pk)},
        )
    assert (missing.written, missing.answers) == (1, None)
