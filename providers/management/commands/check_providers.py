"""manage.py check_providers [--concurrency N] [--provider NAME ...]"""

from django.core.management.base import BaseCommand, CommandError

from providers.locks import CHECK_PROVIDERS_LOCK, session_lock
from providers.models import Provider, ProviderHealth
from providers.services import providers_check_health


class Command(BaseCommand):
    help = (
        "Probe every active provider's api_endpoint over HTTP (concurrently, each with its own timeout) and "
        "record response time, consecutive failures and success rate; 3 consecutive failures make a "
        "provider unhealthy."
    )

    def add_arguments(self, parser):
        parser.add_argument("--concurrency", type=int, default=8, help="Probes in flight at once (default 8).")
        parser.add_argument(
            "--provider", action="append", default=[], metavar="NAME", help="Only this provider (repeatable)."
        )

    def handle(self, *, concurrency: int, provider: list[str], verbosity: int = 1, **_):
        if concurrency < 1:
            raise CommandError("--concurrency must be at least 1")
        targets = Provider.objects.filter(is_active=True).order_by("name")
        if provider:
            targets = targets.filter(name__in=provider)
            missing = set(provider) - set(targets.values_list("name", flat=True))
            if missing:
                raise CommandError(f"no active provider named: {', '.join(sorted(missing))}")
        with session_lock(CHECK_PROVIDERS_LOCK) as taken:
            if not taken:
                self.stdout.write("check_providers: another run is in progress; nothing done")
                return
            targets = list(targets)
            report = providers_check_health(concurrency=concurrency, providers=targets)
        if verbosity > 1:
            health = {h.provider_id: h for h in ProviderHealth.objects.filter(provider__in=targets)}
            for p in targets:
                h = health.get(p.pk)
                self.stdout.write(
                    f"  {p.name}: {h.status if h else 'unknown'}"
                    f" ({h.response_time_ms} ms, {h.consecutive_failures} consecutive failures"
                    f"{', ' + h.last_error if h and h.last_error else ''})"
                    if h
                    else f"  {p.name}: unknown"
                )
        self.stdout.write(
            f"check_providers: checked {report.checked}: {report.healthy} healthy, {report.degraded} degraded, "
            f"{report.unhealthy} unhealthy; became unhealthy {len(report.became_unhealthy)}, "
            f"recovered {len(report.recovered)}"
        )
