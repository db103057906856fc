"""Policies: the administrators' catalogue, and their attachment to projects."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from accounts.models import User
from audits.services import audit_record
from core import canonical
from core.exceptions import Conflict, NotFound, ValidationFailed
from projects.models import Policy, Project, ProjectPolicy
from projects.selectors import project_for_write
from projects.services.projects import UNSET, require_admin, require_name


def _policy_view(p: Policy) -> dict:
    return {
        "name": p.name,
        "description": p.description,
        "active": p.active,
        "rego_sha256": canonical.sha256_hex(p.rego_code),
    }


@transaction.atomic
def policy_create(
    *, name: str, rego_code: str, actor: User | None, description: str = "", active: bool = True
) -> Policy:
    require_admin(actor, "manage policies")
    if not isinstance(rego_code, str) or not rego_code.strip():
        raise ValidationFailed.field("rego_code", "The Rego source may not be blank.")
    try:
        with transaction.atomic():
            policy = Policy.objects.create(
                name=require_name(name), rego_code=rego_code, description=description or "", active=bool(active)
            )
    except IntegrityError:
        raise Conflict("A policy with this name exists.", details={"name": ["already used"]}) from None
    audit_record(
        entity="policy", action="create", actor=actor, payload={"id": str(policy.pk), "after": _policy_view(policy)}
    )
    return policy


@transaction.atomic
def policy_update(
    *,
    policy: Policy,
    actor: User | None,
    name: str = UNSET,
    rego_code: str = UNSET,
    description: str = UNSET,
    active: bool = UNSET,
) -> Policy:
    require_admin(actor, "manage policies")
    locked = Policy.objects.select_for_update().get(pk=policy.pk)
    before = _policy_view(locked)
    if name is not UNSET:
        locked.name = require_name(name)
    if rego_code is not UNSET:
        if not isinstance(rego_code, str) or not rego_code.strip():
            raise ValidationFailed.field("rego_code", "The Rego source may not be blank.")
        locked.rego_code = rego_code
    if description is not UNSET:
        locked.description = description or ""
    if active is not UNSET:
        locked.active = bool(active)
    after = _policy_view(locked)
    if after == before:
        return locked
    try:
        with transaction.atomic():
            locked.save()
    except IntegrityError:
        raise Conflict("A policy with this name exists.", details={"name": ["already used"]}) from None
    audit_record(
        entity="policy", action="update", actor=actor, payload={"id": str(locked.pk), "before": before, "after": after}
    )
    return locked


@transaction.atomic
def policy_delete(*, policy: Policy, actor: User | None) -> None:
    """Delete a policy attached to no project (detach it first, or deactivate it)."""
    require_admin(actor, "manage policies")
    payload = {"id": str(policy.pk), "before": _policy_view(policy)}
    try:
        with transaction.atomic():
            Policy.objects.filter(pk=policy.pk).delete()
    except (ProtectedError, IntegrityError):
        raise Conflict("The policy is attached to projects; detach it or deactivate it.") from None
    audit_record(entity="policy", action="delete", actor=actor, payload=payload)


@transaction.atomic
def project_policy_attach(*, project: Project, policy: Policy, actor: User | None) -> ProjectPolicy:
    project = project_for_write(project_id=project.pk, actor=actor)
    current = Policy.objects.filter(pk=policy.pk).first()
    if current is None:
        raise NotFound("Policy not found.")
    policy = current
    if not policy.active:
        raise ValidationFailed.field("policy", "This policy is inactive.")
    try:
        with transaction.atomic():
            link = ProjectPolicy.objects.create(project=project, policy=policy, attached_by=actor)
    except IntegrityError:
        raise Conflict("The policy is already attached to this project.") from None
    audit_record(
        entity="project_policy",
        action="attach",
        actor=actor,
        payload={"id": str(link.pk), "project": str(project.pk), "policy": str(policy.pk), "policy_name": policy.name},
    )
    return link


@transaction.atomic
def project_policy_detach(*, project: Project, policy: Policy, actor: User | None) -> None:
    project = project_for_write(project_id=project.pk, actor=actor)
    deleted, _ = ProjectPolicy.objects.filter(project=project, policy=policy).delete()
    if not deleted:
        raise NotFound("The policy is not attached to this project.")
    audit_record(
        entity="project_policy",
        action="detach",
        actor=actor,
        payload={"project": str(project.pk), "policy": str(policy.pk), "policy_name": policy.name},
    )
