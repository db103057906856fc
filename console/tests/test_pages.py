"""Every page of the console renders with data present, for every kind of staff, and no
page ever shows a secret."""

import pytest
from django.apps import apps
from django.urls import reverse

from console.audit import ConsoleModelAdmin
from core.testing import registered_model_admins

pytestmark = pytest.mark.django_db

# Models with no admin page on purpose: the composite-key mapping of the audit log (its
# id-keyed twin AuditLogRow is the page) and the table-less permission holder.
NOT_REGISTERED = {"audits.auditentry", "console.consolepermission"}
# Rows without a key of their own (a view): a list, no page per row.
NO_CHANGE_PAGE = {"audits.statistic"}
# Apps the world fixture fills.
FILLED_APPS = {"accounts", "audits", "auth", "projects", "experiments", "quarantine", "providers", "production"}
DOMAIN_APPS = {"accounts", "audits", "projects", "experiments", "quarantine", "providers", "production", "console"}


def _label(model) -> str:
    return f"{model._meta.app_label}.{model._meta.model_name}"


def _registered():
    return sorted(registered_model_admins(), key=lambda item: _label(item[0]))


def _urls(model):
    info = model._meta.app_label, model._meta.model_name
    return reverse("admin:{}_{}_changelist".format(*info)), "admin:{}_{}_change".format(*info)


def _assert_no_secret(page: str, secrets, where: str) -> None:
    for secret in secrets:
        assert secret not in page, f"a secret ({secret[:6]}…) is rendered on {where}"


def test_every_model_is_registered_with_the_console_layer():
    registered = {_label(model) for model, _ in registered_model_admins()}
    for model in apps.get_models():
        if model._meta.app_label in DOMAIN_APPS and _label(model) not in NOT_REGISTERED:
            assert _label(model) in registered, f"{_label(model)} has no admin page"
    for model, model_admin in registered_model_admins():
        assert isinstance(model_admin, ConsoleModelAdmin), _label(model)


def test_every_page_renders_for_a_superuser_without_secrets(superuser_console, world):
    secrets = world["secrets"]
    checked = 0
    for model, model_admin in _registered():
        changelist, change_name = _urls(model)
        for url in (changelist, changelist + "?q=nothing-matches", changelist + "?q=" + str(world["promotion"].pk)):
            response = superuser_console.get(url)
            assert response.status_code == 200, (url, response.status_code)
            _assert_no_secret(response.content.decode(), secrets, url)
        if model_admin.has_add_permission(superuser_console.get(changelist).wsgi_request):
            response = superuser_console.get(reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_add"))
            assert response.status_code == 200, _label(model)
            _assert_no_secret(response.content.decode(), secrets, f"{_label(model)} add")
        if _label(model) in NO_CHANGE_PAGE:
            continue
        objects = model_admin.get_queryset(superuser_console.get(changelist).wsgi_request)
        obj = objects.order_by("-pk").first()
        if obj is None and model._meta.app_label not in FILLED_APPS:
            continue
        assert obj is not None, f"the world fixture has no {_label(model)}"
        for url in (
            reverse(change_name, args=[obj.pk]),
            reverse(change_name.replace("_change", "_history"), args=[obj.pk]),
        ):
            response = superuser_console.get(url)
            assert response.status_code == 200, (url, response.status_code)
            _assert_no_secret(response.content.decode(), secrets, url)
        checked += 1
    assert checked >= 25


def test_a_user_with_two_factor_shows_no_secret(superuser_console, world):
    page = superuser_console.get(reverse("admin:accounts_user_change", args=[world["totp_user"].pk]))
    assert page.status_code == 200 and "totp_secret" not in page.content.decode()
    _assert_no_secret(page.content.decode(), world["secrets"], "the TOTP user's page")


def test_keys_show_their_last_four_characters_only(superuser_console, world):
    from console.tests.conftest import API_KEY

    page = superuser_console.get(reverse("admin:providers_userprovider_changelist")).content.decode()
    assert "••••" + API_KEY[-4:] in page


def test_the_console_pages_render_without_secrets(superuser_console, world):
    for name in ("admin:index", "admin:console_database", "admin:console_verify_chain"):
        response = superuser_console.get(reverse(name))
        assert response.status_code == 200, name
        _assert_no_secret(response.content.decode(), world["secrets"], name)
    assert superuser_console.get(reverse("admin:console")).status_code == 302


# --- read-only staff ---------------------------------------------------------------------------


def test_an_auditor_reads_everything_and_changes_nothing(auditor, console_for, world):
    console = console_for(auditor)
    for model, model_admin in _registered():
        changelist, change_name = _urls(model)
        response = console.get(changelist)
        assert response.status_code == 200, (_label(model), response.status_code)
        page = response.content.decode()
        _assert_no_secret(page, world["secrets"], changelist)
        assert 'name="action"' not in page, f"{_label(model)} offers actions to a read-only auditor"
        assert "addlink" not in page, _label(model)
        if _label(model) in NO_CHANGE_PAGE:
            continue
        info = model._meta.app_label, model._meta.model_name
        assert console.get(reverse("admin:{}_{}_add".format(*info))).status_code == 403, _label(model)
        obj = model_admin.get_queryset(response.wsgi_request).first()
        if obj is None and model._meta.app_label not in FILLED_APPS:
            continue
        change = console.get(reverse(change_name, args=[obj.pk]))
        assert change.status_code == 200, _label(model)
        assert 'name="_save"' not in change.content.decode(), f"{_label(model)} can be saved by an auditor"
        assert console.post(reverse(change_name, args=[obj.pk]), {}).status_code == 403, _label(model)
        delete = console.post(reverse("admin:{}_{}_delete".format(*info), args=[obj.pk]), {"post": "yes"})
        assert delete.status_code == 403, _label(model)


def test_an_auditor_cannot_run_an_action_by_posting_it(auditor, console_for, world, new_audit):
    console = console_for(auditor)
    promotion = world["promotion"]
    response = console.post(
        reverse("admin:experiments_promotion_changelist"),
        {"action": "approve", "_selected_action": [str(promotion.pk)]},
    )
    assert response.status_code == 200  # the list again, with "No action selected"
    promotion.refresh_from_db()
    assert promotion.status == "pending"
    assert not new_audit(entity="promotion", action="approve").exists()
    assert not new_audit(entity="admin").exists()


def test_a_viewer_keeps_only_reading_whatever_its_groups_grant(make_user, console_for, world):
    from django.contrib.auth.models import Group

    viewer = make_user("viewer", is_staff=True)
    viewer.groups.add(Group.objects.get(name="Operators"))
    assert not viewer.has_perm("accounts.change_user") and viewer.has_perm("accounts.view_user")
    console = console_for(viewer)
    page = console.get(reverse("admin:accounts_user_changelist")).content.decode()
    assert 'name="action"' not in page


def test_staff_without_groups_see_nothing(make_user, console_for, world):
    staff = make_user("user", is_staff=True)
    console = console_for(staff)
    index = console.get(reverse("admin:index"))
    assert index.status_code == 200
    assert "permission to view or edit anything" in index.content.decode()
    assert index.context["cards"] == []
    assert console.get(reverse("admin:accounts_user_changelist")).status_code == 403
    assert console.get(reverse("admin:console_database")).status_code == 403
    assert console.get(reverse("admin:console_verify_chain")).status_code == 403


def test_non_staff_are_sent_to_the_login_page(regular_user, console_for):
    assert console_for(regular_user).get(reverse("admin:index")).status_code == 302


# --- what nobody may do ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model_label",
    ["audits.auditlogrow", "audits.verification", "quarantine.quarantinerecord", "accounts.securityevent"],
)
def test_nobody_changes_audit_entries_or_quarantine_content(superuser_console, world, model_label):
    app_label, model_name = model_label.split(".")
    model = apps.get_model(app_label, model_name)
    obj = model.objects.order_by("-pk").first()
    assert superuser_console.get(reverse(f"admin:{app_label}_{model_name}_add")).status_code == 403
    change = superuser_console.get(reverse(f"admin:{app_label}_{model_name}_change", args=[obj.pk]))
    assert change.status_code == 200 and 'name="_save"' not in change.content.decode()
    assert (
        superuser_console.post(reverse(f"admin:{app_label}_{model_name}_change", args=[obj.pk]), {}).status_code == 403
    )
    delete = reverse(f"admin:{app_label}_{model_name}_delete", args=[obj.pk])
    assert superuser_console.post(delete, {"post": "yes"}).status_code == 403
    assert model.objects.filter(pk=obj.pk).exists()
