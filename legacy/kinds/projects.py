"""projects/<slug>.json → a project with its v1/v2/v3 versions, baselines and attached
policies (projects.services.projects_import). The slug is the legacy identity (kept in
the legacy-id map; experiments and analyses refer to it). The owner and the policies
must exist (imported before, or already in Tristate); a project the owner already has
under the same name is refused, never merged into."""

from __future__ import annotations

from legacy import values
from legacy.bulk.projects import BaselineImport, ProjectImport, projects_import
from legacy.kinds.base import Context, Item, Pending
from legacy.reader import RawRecord


def prepare(rec: RawRecord, ctx: Context) -> Item:
    d = rec.data
    stem = rec.file.rsplit("/", 1)[-1].removesuffix(".json")
    slug = values.text(d, "slug", required=False, default=stem, max_length=500).strip() or stem
    if slug != stem:
        raise values.Reject(f"slug {slug!r} differs from the file name {stem!r}")
    versions = {}
    for tag, version in values.obj(d, "versions", required=False).items():
        if not isinstance(version, dict):
            raise values.Reject(f"versions.{tag} must be a JSON object")
        versions[tag] = (
            values.obj(version, "model_config", required=False),
            values.text(version, "changelog", required=False),
        )
    baselines = []
    for n, b in enumerate(values.array(d, "baselines")):
        if not isinstance(b, dict):
            raise values.Reject(f"baselines[{n}] must be a JSON object")
        try:
            baselines.append(
                BaselineImport(
                    metric_key=values.text(b, "metric"),
                    operator=values.field(b, "op"),
                    threshold=values.field(b, "threshold"),
                    active=values.boolean(b, "active", default=True),
                )
            )
        except values.Reject as exc:
            raise values.Reject(f"baselines[{n}]: {exc.reason}") from None
    policies = values.array(d, "policies")
    if not all(isinstance(p, str) for p in policies):
        raise values.Reject("field 'policies' must be a list of policy names")
    project = {
        "name": values.text(d, "name", max_length=200).strip(),
        "owner": values.email(d, "owner"),
        "description": values.text(d, "description", required=False),
        "archived": values.boolean(d, "archived"),
        "created_at": values.time(d, "created_at", required=False, now=ctx.now),
        "versions": versions,
        "baselines": baselines,
        "policies": policies,
    }
    return Item(key=slug, digest=values.digest_text(rec.text), rec=rec, value=project)


def write(items: list[Item], ctx: Context) -> list:
    owners = ctx.users(it.value["owner"] for it in items)
    policies = ctx.policies(name for it in items for name in it.value["policies"])
    pending = Pending(items)
    for index, it in enumerate(items):
        p = it.value
        owner = owners.get(p["owner"])
        missing = [name for name in p["policies"] if name not in policies]
        if owner is None:
            pending.refuse(index, f"owner {p['owner']} does not exist (not in the export, or rejected)")
        elif missing:
            pending.refuse(index, f"unknown policies: {', '.join(missing)}")
        else:
            pending.add(
                index,
                ProjectImport(
                    owner_id=owner,
                    name=p["name"],
                    description=p["description"],
                    archived=p["archived"],
                    created_at=p["created_at"],
                    versions=p["versions"],
                    baselines=p["baselines"],
                    policy_ids=[policies[name] for name in p["policies"]],
                ),
            )
    if not pending.rows:
        return pending.results
    return pending.finish(projects_import(projects=pending.rows, actor=ctx.actor, context=ctx.audit_context()))
