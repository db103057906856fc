"""backup --out: never overwrites without --force, never creates a missing folder."""

import pytest
from django.core.management import CommandError, call_command


@pytest.mark.django_db
def test_backup_refuses_to_overwrite_without_force(tmp_path):
    target = tmp_path / "existing.dump"
    target.write_bytes(b"precious")
    with pytest.raises(CommandError, match="--force"):
        call_command("backup", out=str(target))
    assert target.read_bytes() == b"precious"


@pytest.mark.django_db
def test_backup_refuses_a_missing_folder(tmp_path):
    target = tmp_path / "no" / "such" / "folder" / "b.dump"
    with pytest.raises(CommandError, match="does not exist"):
        call_command("backup", out=str(target))
    assert not (tmp_path / "no").exists()


@pytest.mark.django_db(transaction=True)
def test_backup_with_force_replaces_the_file(tmp_path):
    target = tmp_path / "existing.dump"
    target.write_bytes(b"old")
    call_command("backup", out=str(target), force=True)
    data = target.read_bytes()
    assert data.startswith(b"PGDMP") and len(data) > 1000
    assert not list(tmp_path.glob("*.partial"))
