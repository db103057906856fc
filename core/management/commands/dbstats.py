"""Database health at a glance."""

import json

from django.core.management.base import BaseCommand

from core.db.stats import collect


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


class Command(BaseCommand):
    help = (
        "Database health: size per schema and table, partitions with sizes and row estimates, index usage "
        "(unused indexes flagged), dead tuples and last autovacuum per table, connections, longest running queries."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print everything as JSON")
        parser.add_argument("--top", type=int, default=15, help="tables and indexes to list (text output)")

    def handle(self, *args, top=15, **options):
        stats = collect()
        if options["json"]:
            self.stdout.write(json.dumps(stats, indent=1, default=str))
            return
        w = self.stdout.write
        w(f"database: {_size(stats['database_bytes'])}")
        c = stats["connections"]
        w(
            f"connections: {c['total']} of {c['max_connections']} ({c['active']} active, "
            f"{c['idle_in_transaction']} idle in transaction)"
        )
        w("\nschemas:")
        for s in stats["schemas"]:
            w(f"  {s['schema']:<14} {s['tables']:>4} tables {_size(s['bytes']):>10}")
        w(f"\ntables (top {top} by size):")
        w(f"  {'table':<40} {'size':>10} {'rows~':>12} {'dead':>10}  last vacuum")
        for t in stats["tables"][:top]:
            w(
                f"  {t['schema'] + '.' + t['table']:<40} {_size(t['bytes']):>10} {t['row_estimate']:>12,} "
                f"{t['dead_tuples']:>10,}  {t['last_vacuum'] or 'never'}"
            )
        w("\npartitions:")
        for p in stats["partitions"]:
            flag = "  (detach pending)" if p["detach_pending"] else ""
            w(f"  {p['partition']:<28} {_size(p['bytes']):>10} {p['row_estimate']:>12,}  {p['bounds']}{flag}")
        unused = [i for i in stats["indexes"] if i["unused"]]
        w(f"\nindexes: {len(stats['indexes'])}, unused since the statistics reset: {len(unused)}")
        for i in unused[:top]:
            w(f"  UNUSED {i['schema']}.{i['index']} on {i['table']} ({_size(i['bytes'])})")
        w("\nlongest running queries:")
        for q in stats["longest_queries"] or [{"seconds": None}]:
            if q["seconds"] is None:
                w("  none")
                break
            w(f"  {q['seconds']:8.1f}s pid {q['pid']} {q['role']} {q['state']}: {q['query']}")
