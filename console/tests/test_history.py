"""The audit trail where people look (issue 28): an object's "History" in the console is
its audit trail; the audit changelist links each entry's object; an entry's page shows
its payload as indented JSON with links to the object and the actor."""

import html

import pytest
from django.urls import reverse

from audits.models import AuditLogRow
from projects import services as projects
from projects.models import Project


@pytest.mark.django_db
def test_an_objects_history_is_its_audit_trail(superuser_console, project, regular_user):
    projects.project_update(project=project, actor=regular_user, description="changed once")
    page = superuser_console.get(reverse("admin:projects_project_history", args=[project.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "doesn’t have a change history" not in text and "audit-trail" in text
    entries = AuditLogRow.objects.filter(entity="project", payload__id=str(project.pk)).order_by("-ts", "-id")
    assert [e.action for e in entries] == ["update", "create"]
    for entry in entries:
        assert reverse("admin:audits_auditlogrow_change", args=[entry.id]) in text
    assert regular_user.email in text


@pytest.mark.django_db
def test_the_audit_changelist_and_entry_page_link_the_object_and_actor(superuser_console, project, regular_user):
    project_url = reverse("admin:projects_project_change", args=[project.pk])
    listing = superuser_console.get(reverse("admin:audits_auditlogrow_changelist") + "?entity=project")
    assert listing.status_code == 200 and f'href="{project_url}"' in listing.content.decode()

    entry = AuditLogRow.objects.filter(entity="project", action="create", payload__id=str(project.pk)).get()
    page = superuser_console.get(reverse("admin:audits_auditlogrow_change", args=[entry.id]))
    text = page.content.decode()
    assert f'href="{project_url}"' in text
    assert f'href="{reverse("admin:accounts_user_change", args=[regular_user.pk])}"' in text
    pretty = html.unescape(text.split('<pre class="console-json">', 1)[1].split("</pre>", 1)[0])
    assert f'\n  "id": "{project.pk}"' in pretty
    assert Project.objects.filter(pk=project.pk).exists()
