"""manage.py reconcile_usage [--date YYYY-MM-DD]"""

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from providers.periods import current_periods
from providers.reconcile import usage_reconcile


class Command(BaseCommand):
    help = (
        "Prove that a day's usage counters equal the sum of that day's recorded usage events (the audit "
        "log's usage entries). Exit status 1 on any difference."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--date", type=date.fromisoformat, default=None, help="Day to check (default: today, QUOTA_TIMEZONE)."
        )

    def handle(self, *, date: date | None, **_):
        day = date or current_periods().day
        report = usage_reconcile(day=day)
        if report.ledger_missing:
            raise CommandError(
                f"reconcile_usage {day}: {report.rows} counter row(s) but that month's audit partition is gone "
                "(retention); nothing to reconcile against"
            )
        for m in report.mismatches[:50]:
            self.stderr.write(
                f"  MISMATCH user={m.user} provider={m.provider} model={m.model!r}: "
                f"counters={m.counters} ledger={m.ledger}"
            )
        summary = (
            f"reconcile_usage {day}: {report.rows} counter row(s), {report.events} usage event(s), "
            f"{len(report.mismatches)} mismatch(es)"
        )
        if not report.ok:
            raise CommandError(summary)
        self.stdout.write(summary + ": OK")
