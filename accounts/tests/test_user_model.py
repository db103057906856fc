import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection

from accounts.models import Role, User
from accounts.services import user_create
from core.exceptions import Conflict, ValidationFailed


@pytest.mark.django_db
def test_email_is_stored_lower_case_and_unique_case_insensitively():
    user = user_create(email="  Mixed.Case@Example.COM ", password="a-long-enough-pass", actor=None)
    assert user.email == "mixed.case@example.com"
    with pytest.raises(Conflict):
        user_create(email="MIXED.case@example.com", password="a-long-enough-pass", actor=None)


@pytest.mark.django_db
def test_bad_email_is_a_validation_error():
    with pytest.raises(ValidationFailed):
        user_create(email="not-an-email", password="a-long-enough-pass", actor=None)


@pytest.mark.django_db
def test_database_refuses_upper_case_emails_and_unknown_roles():
    user = user_create(email="db@example.com", password="a-long-enough-pass", actor=None)
    with pytest.raises(IntegrityError), connection.cursor() as cursor:
        cursor.execute("UPDATE accounts.users SET email = 'DB@example.com' WHERE id = %s", [user.pk])


@pytest.mark.django_db
def test_database_refuses_unknown_roles():
    user = user_create(email="role@example.com", password="a-long-enough-pass", actor=None)
    with pytest.raises(IntegrityError):
        User.objects.filter(pk=user.pk).update(role="superuser")


@pytest.mark.django_db
def test_passwords_are_hashed_with_argon2_in_production_settings(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]
    user = user_create(email="argon@example.com", password="a-long-enough-pass", actor=None)
    assert user.password.startswith("argon2$argon2id$")


@pytest.mark.django_db
def test_createsuperuser_noinput_reads_the_environment(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "Root@Example.com")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "root-password-123")
    call_command("createsuperuser", "--noinput", verbosity=0)
    user = User.objects.get(email="root@example.com")
    assert user.role == Role.ADMIN and user.is_staff and user.is_superuser and user.verified
    assert user.check_password("root-password-123")


@pytest.mark.django_db
def test_user_creation_is_audited():
    from audits.models import AuditEntry

    user = user_create(email="audited@example.com", password="a-long-enough-pass", actor=None)
    entry = AuditEntry.objects.get(entity="user", action="create", payload__id=str(user.pk))
    assert entry.payload["email"] == "audited@example.com"
    assert "password" not in str(entry.payload)
