#!/usr/bin/env python3
# A copy of the shared legacy/make_sample.py (export format 3), so the tests generate their
# fixtures without the shared folder. Kept as it is (excluded from ruff).
"""Write a realistic legacy file-store export (see FORMAT.md beside this file).

    python make_sample.py OUT_DIR [--users N] [--seed S] [--no-bad] [--expect FILE]

Deterministic in content for a given seed (Fernet tokens and bcrypt salts are random, the
plaintexts are not). Needs the `cryptography` and `bcrypt` packages. Prints the legacy key
as LEGACY_ENCRYPTION_KEY=... and, with --expect, writes the counts an importer should reach.
User i (0-based, in users.jsonl order, bad lines excluded) has password "legacy-pass-<i>".
"""
import argparse
import base64
import datetime as dt
import hashlib
import json
import os
import random
import uuid

import bcrypt
from cryptography.fernet import Fernet

PROVIDERS = [("openai", "gpt-4o"), ("anthropic", "claude-3-5-sonnet"), ("huggingface", "starcoder2"), ("local", "llama-3-8b")]
METRICS = ["accuracy", "precision", "recall", "latency_ms", "false_positive_rate"]
LANGS = ["python", "javascript", "go", "rust", "java", "typescript"]


def legacy_key(seed):
    return base64.urlsafe_b64encode(hashlib.sha256(f"legacy-key-{seed}".encode()).digest()).decode()


class Writer:
    def __init__(self, out, rng):
        self.out, self.rng = out, rng

    def path(self, rel):
        p = os.path.join(self.out, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        return p

    def jsonl(self, rel, lines, bom=False, crlf=False):
        end = "\r\n" if crlf else "\n"
        with open(self.path(rel), "w", encoding="utf-8", newline="") as f:
            if bom:
                f.write("\ufeff")
            for line in lines:
                f.write((line if isinstance(line, str) else json.dumps(line, ensure_ascii=False)) + end)

    def json(self, rel, obj):
        with open(self.path(rel), "w", encoding="utf-8") as f:
            json.dump(obj, f, ensure_ascii=False, indent=1)


def ts_variants(rng, when):
    """The same instant written the ways real exports write it."""
    k = rng.random()
    if k < 0.6:
        return when.strftime("%Y-%m-%dT%H:%M:%SZ")
    if k < 0.8:
        return when.astimezone(dt.timezone(dt.timedelta(hours=2))).isoformat()
    if k < 0.9:
        return when.replace(tzinfo=None).isoformat()
    return int(when.timestamp())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--users", type=int, default=200)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-bad", action="store_true", help="leave the bad records out")
    ap.add_argument("--expect", help="write expected import counts (JSON) to this file")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    bad = not a.no_bad
    key = legacy_key(a.seed)
    fernet, wrong = Fernet(key.encode()), Fernet(Fernet.generate_key())
    w = Writer(a.out, rng)
    base = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    span = dt.timedelta(days=600)

    def when():
        return base + dt.timedelta(seconds=rng.randrange(int(span.total_seconds())))

    def uid():
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    expect = {"rejects": {}}

    def reject(kind, n=1):
        expect["rejects"][kind] = expect["rejects"].get(kind, 0) + n

    w.json("manifest.json", {"format": "tristate-legacy", "version": 3, "exported_at": "2025-08-30T12:00:00Z"})

    # users
    roles = ["admin"] + ["operator"] * 2 + ["readonly"] * 5
    users, lines = [], []
    for i in range(a.users):
        email = f"user{i:05d}@example.{rng.choice(['com', 'org', 'io'])}"
        role = roles[i] if i < len(roles) else "user"
        pw = bcrypt.hashpw(f"legacy-pass-{i}".encode(), bcrypt.gensalt(rounds=4)).decode()
        u = {"email": email, "name": f"User {i} {rng.choice(['Müller', 'Øberg', '李', 'O’Neil', 'Smith'])}",
             "password_hash": pw if i % 50 != 49 else None, "role": role, "verified": rng.random() < 0.9,
             "created_at": ts_variants(rng, when()), "last_login": ts_variants(rng, when()) if rng.random() < 0.7 else None}
        users.append(email)
        lines.append(u)
    if bad:
        lines.insert(3, '{"email": "broken@example.com", "name": ')  # not JSON
        lines.insert(7, {"name": "No Email", "role": "user"})  # missing email
        lines.insert(11, {"email": "root@example.com", "name": "Root", "role": "superuser", "password_hash": None})
        dup = dict(lines[20] if isinstance(lines[20], dict) else lines[21])
        dup["email"] = dup["email"].upper()  # same person, other case: merged, not rejected
        lines.append(dup)
        lines.append("")  # blank line: ignored
        reject("users", 3)
    w.jsonl("users.jsonl", lines, bom=bad, crlf=bad)
    expect["users"] = len(users)

    for email in users[: max(1, len(users) // 3)]:
        w.json(f"settings/{email}.json", {"THEME": rng.choice(["dark", "light"]), "CONFIDENCE_THRESHOLD": str(rng.choice([0.7, 0.8, 0.9]))})

    policies = [{"name": f"policy-{k}", "description": f"Policy {k}", "rego": f"package review.p{k}\n\ndefault allow := false\nallow if input.score >= {50 + k}\n"} for k in range(6)]
    w.json("policies.json", policies)
    expect["policies"] = len(policies)

    # projects
    slugs = []
    for p in range(max(2, a.users // 4)):
        slug = f"project-{p:04d}"
        slugs.append(slug)
        baselines = [{"metric": m, "op": op, "threshold": t, "active": True}
                     for m, op, t in rng.sample([("accuracy", ">=", 0.8), ("precision", ">=", 0.75), ("recall", ">", 0.6),
                                                ("latency_ms", "<=", 1500), ("false_positive_rate", "<", 0.1)], 3)]
        w.json(f"projects/{slug}.json", {
            "slug": slug, "name": f"Project {p}", "owner": rng.choice(users), "description": "Imported project",
            "archived": rng.random() < 0.05, "created_at": ts_variants(rng, when()),
            "versions": {t: {"model_config": {"model": rng.choice(PROVIDERS)[1], "temperature": round(rng.random(), 2)}, "changelog": f"{t} initial"} for t in ("v1", "v2", "v3")},
            "baselines": baselines, "policies": [x["name"] for x in rng.sample(policies, 2)]})
    expect["projects"] = len(slugs)

    # experiments, evaluations, quarantine
    exps, evals, quarantined, qlines = [], 0, 0, []
    statuses = ["created", "running", "completed", "failed", "evaluating", "promoted", "quarantined"]
    for e in range(a.users * 5):
        status = rng.choice(statuses)
        cfg = {"model": rng.choice(PROVIDERS)[1], "temperature": round(rng.random(), 3), "prompt_version": rng.randrange(1, 40), "seed": e}
        start = when()
        ev = []
        if status in ("evaluating", "promoted", "quarantined", "completed"):
            for _ in range(rng.randrange(1, 3)):
                ev.append({"metrics": {m: round(rng.random(), 3) for m in rng.sample(METRICS, 3)},
                           "verdict": "fail" if status == "quarantined" else rng.choice(["pass", "manual_review"]),
                           "confidence": round(rng.uniform(0.4, 1), 2), "override": None, "override_reason": None,
                           "evaluated_at": ts_variants(rng, start + dt.timedelta(hours=3))})
        rec = {"id": f"exp_{e:06d}", "project": rng.choice(slugs), "name": f"Experiment {e}", "description": "",
               "config": cfg, "dataset_id": uid(), "status": status, "created_by": rng.choice(users),
               "created_at": ts_variants(rng, start), "started_at": ts_variants(rng, start + dt.timedelta(minutes=5)),
               "completed_at": ts_variants(rng, start + dt.timedelta(hours=2)) if status != "running" else None, "evaluations": ev}
        exps.append(rec)
        evals += len(ev)
        if status == "quarantined":
            quarantined += 1
            qlines.append({"experiment": rec["id"], "config": cfg, "reason": "failed baselines",
                           "evidence": {"evaluations": len(ev)}, "failure_metrics": ev[-1]["metrics"] if ev else {},
                           "quarantined_at": rec["completed_at"], "quarantined_by": users[0], "review_status": "quarantined"})
    if bad:
        exps.insert(5, {**exps[5], "id": "exp_orphan", "project": "no-such-project"})
        exps.insert(9, {**exps[9], "id": "exp_weird", "status": "exploded"})
        reject("experiments", 2)
    w.jsonl("experiments.jsonl", exps)
    expect["experiments"] = a.users * 5
    expect["evaluations"] = evals
    w.jsonl("quarantine.jsonl", qlines)
    expect["quarantine_records"] = quarantined

    # analyses
    n_an = a.users * 2
    for n in range(n_an):
        created = when()
        st = rng.choice(["done"] * 8 + ["error", "running", "cancelled"])
        w.json(f"analyses/analysis_{int(created.timestamp())}{n:05d}.json", {
            "analysis_id": f"analysis_{int(created.timestamp())}{n:05d}", "user": rng.choice(users) if rng.random() < 0.9 else None,
            "project": rng.choice(slugs), "version": "v2", "status": st,
            "request": {"repo": f"git@example.com:org/repo{n}.git", "commit": hashlib.sha1(str(n).encode()).hexdigest(),
                        "files": [f"src/mod{k}.py" for k in range(rng.randrange(1, 6))]},
            "response": {"language": rng.choice(LANGS), "score": round(rng.uniform(0, 10), 1),
                         "vulnerabilities": [{"id": f"V{k}", "severity": rng.choice(["low", "high"])} for k in range(rng.randrange(0, 4))],
                         "issues": [{"line": rng.randrange(1, 500), "msg": "unused variable"} for _ in range(rng.randrange(0, 8))],
                         "model": rng.choice(PROVIDERS)[1]},
            "processing_time_ms": rng.randrange(200, 90000), "created_at": ts_variants(rng, created)})
    if bad:
        with open(w.path("analyses/analysis_9999999999truncated.json"), "w") as f:
            f.write('{"analysis_id": "analysis_truncated", "user": null, "response": {"langu')
        reject("analyses")
    expect["analyses"] = n_an

    # provider keys
    keys, seen = [], set()
    for i, email in enumerate(users):
        if rng.random() < 0.8:
            ptype, model = rng.choice(PROVIDERS)
            if (email, ptype) in seen:
                continue
            seen.add((email, ptype))
            plain = f"sk-{ptype[:3]}-{hashlib.sha256(f'{a.seed}-{email}-{ptype}'.encode()).hexdigest()[:40]}"
            val = plain if i % 17 == 0 else "ENC:" + fernet.encrypt(plain.encode()).decode()
            keys.append({"user": email, "provider_type": ptype, "provider_name": ptype.title(), "model_name": model, "api_key": val})
    expect["provider_keys"] = len(keys)
    if bad:
        keys.append({"user": "nobody@example.com", "provider_type": "openai", "provider_name": "OpenAI", "model_name": "gpt-4o", "api_key": "sk-x"})
        keys.append({"user": users[1], "provider_type": "huggingface-x", "provider_name": "HF", "model_name": "m",
                     "api_key": "ENC:" + wrong.encrypt(b"sk-wrong-key").decode()})
        reject("provider_keys", 2)
    w.jsonl("provider_keys.jsonl", keys)

    # usage
    agg = set()
    by_month = {}
    for _ in range(a.users * 30):
        day = (base + dt.timedelta(days=rng.randrange(span.days))).date()
        ptype, model = rng.choice(PROVIDERS)
        user = rng.choice(users)
        agg.add((user, ptype, model, day))
        by_month.setdefault(day.strftime("%Y-%m"), []).append({
            "user": user, "provider": ptype, "model": model, "date": day.isoformat(), "requests": rng.randrange(1, 50),
            "tokens_in": rng.randrange(100, 20000), "tokens_out": rng.randrange(50, 8000), "cost_usd": f"{rng.uniform(0, 3):.6f}"})
    if bad:
        first = sorted(by_month)[0]
        by_month[first].append({"user": users[2], "provider": "openai", "model": "gpt-4o", "date": "2024-13-45",
                                "requests": 1, "tokens_in": 1, "tokens_out": 1, "cost_usd": "0.1"})
        by_month[first].append({"user": users[2], "provider": "openai", "model": "gpt-4o", "date": f"{first}-02",
                                "requests": -4, "tokens_in": 1, "tokens_out": 1, "cost_usd": "0.1"})
        reject("usage", 2)
    for month, rows in sorted(by_month.items()):
        w.jsonl(f"usage/usage_{month}.jsonl", rows)
    expect["usage_rows"] = len(agg)

    # audit
    by_month, n_audit = {}, 0
    for k in range(a.users * 20):
        t = when()
        by_month.setdefault(t.strftime("%Y-%m"), []).append({
            "id": f"aud_{k:08d}", "ts": t.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "entity": rng.choice(["experiment", "project", "user", "provider_key"]),
            "action": rng.choice(["create", "update", "promote", "quarantine", "login"]), "actor": rng.choice(users + [None]),
            "payload": {"note": rng.choice(["ok", "changed settings", "Ünïcödé ✓"]), "n": k}})
        n_audit += 1
    if bad:
        first = sorted(by_month)[0]
        by_month[first].append({"id": "aud_nul", "ts": "2024-01-05T00:00:00Z", "entity": "user", "action": "update",
                                "actor": None, "payload": {"note": "bad\u0000byte"}})
        by_month[first].append('{"id": "aud_cut", "ts": "2024-01-')
        reject("audit", 2)
    for month, rows in sorted(by_month.items()):
        w.jsonl(f"audit/audit_{month}.jsonl", rows)
    expect["audit_events"] = n_audit

    print(f"LEGACY_ENCRYPTION_KEY={key}")
    if a.expect:
        with open(a.expect, "w") as f:
            json.dump(expect, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
