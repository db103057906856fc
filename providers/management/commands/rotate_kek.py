"""manage.py rotate_kek [--dry-run] [--batch-size N]"""

from django.core.management.base import BaseCommand, CommandError
from django.db.models import CharField, Count, F, Func, Value
from tqdm import tqdm

from accounts.models import User
from accounts.services import totp_secrets_rewrap
from audits.services import audit_record
from core import crypto
from providers.locks import ROTATE_KEK_LOCK, session_lock
from providers.models import UserProvider
from providers.services import provider_keys_rewrap


def _by_key_id(qs, column: str) -> dict[str, int]:
    rows = (
        qs.annotate(kek=Func(F(column), Value(":"), Value(2), function="split_part", output_field=CharField()))
        .values("kek")
        .annotate(n=Count("pk"))
        .order_by("kek")
    )
    return {row["kek"]: row["n"] for row in rows}


class Command(BaseCommand):
    help = (
        "Re-wrap every data key (users' provider API keys and TOTP secrets) under the newest master key "
        "of KMS_MASTER_KEYS (the first one). Sealed payloads are not touched. Batched, resumable, audited. "
        "Afterwards the older master keys can be removed from KMS_MASTER_KEYS."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Unwrap and re-wrap in memory; write nothing.")
        parser.add_argument("--batch-size", type=int, default=500, help="Rows per transaction (default 500).")

    def handle(self, *, dry_run: bool, batch_size: int, verbosity: int = 1, **_):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        kek_id = crypto.get_kms().current_key_id()
        prefix = f"{crypto.VERSION}:{kek_id}:"
        with session_lock(ROTATE_KEK_LOCK) as taken:
            if not taken:
                raise CommandError("another rotate_kek is running; try again when it has finished")
            pending = UserProvider.objects.exclude(encrypted_dek__startswith=prefix).count()
            with tqdm(total=pending, desc="provider keys", unit="key", disable=verbosity < 1 or not pending) as bar:
                report = provider_keys_rewrap(batch_size=batch_size, dry_run=dry_run, progress=bar.update)
            totp = totp_secrets_rewrap(batch_size=batch_size, dry_run=dry_run, actor=None)
            if not dry_run and (report.rewrapped or totp):
                audit_record(
                    entity="kms",
                    action="rotate_kek",
                    actor=None,
                    payload={
                        "kek_id": kek_id,
                        "provider_keys": report.rewrapped,
                        "totp_secrets": totp,
                        "failed": len(report.failed),
                    },
                )
        others = {k: n for k, n in _by_key_id(UserProvider.objects.all(), "encrypted_dek").items() if k != kek_id}
        totp_others = {
            k: n for k, n in _by_key_id(User.objects.exclude(totp_secret=""), "totp_secret").items() if k != kek_id
        }
        verb = "would re-wrap" if dry_run else "re-wrapped"
        left = ", ".join(f"{k}: {n}" for k, n in sorted(others.items())) or "none"
        totp_left = ", ".join(f"{k}: {n}" for k, n in sorted(totp_others.items())) or "none"
        self.stdout.write(
            f"rotate_kek{' (dry run)' if dry_run else ''}: current master key {kek_id}; {verb} "
            f"{report.rewrapped} provider key(s) and {totp} TOTP secret(s); failed {len(report.failed)}; "
            f"provider keys under other master keys: {left}; TOTP secrets under other master keys: {totp_left}"
        )
        if report.failed:
            raise CommandError(
                f"{len(report.failed)} provider key(s) could not be unwrapped (unknown master key or tampered): "
                + ", ".join(report.failed[:20])
            )
