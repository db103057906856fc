"""Check the row-count tallies against their tables, or rebuild them."""

from django.core.management.base import BaseCommand, CommandError

from core.db import tallies


class Command(BaseCommand):
    help = (
        "Compare each row-count tally (core.db.tallies: the exact counts of whole-table API lists) with a count "
        "of its table, in one snapshot; non-zero exit on any difference. --rebuild reseeds every tally (writes "
        "to each table wait meanwhile), e.g. after a data-only restore made with triggers disabled."
    )

    def add_arguments(self, parser):
        parser.add_argument("--rebuild", action="store_true", help="reseed every tally from a count of its table")

    def handle(self, *args, rebuild=False, **options):
        drifted = []
        for schema, table, column in tallies.TALLIES:
            name = f"{schema}.{table} by {column}"
            if rebuild:
                counted = tallies.rebuild(schema, table, column)
                self.stdout.write(f"{name}: rebuilt ({counted:,} rows)")
                continue
            differences = tallies.drift(schema, table, column)
            if not differences:
                self.stdout.write(f"{name}: ok")
                continue
            drifted.append(name)
            for value, (tallied, counted) in sorted(differences.items()):
                self.stdout.write(f"{name}: {value!r} tallied {tallied:,}, counted {counted:,}")
        if drifted:
            raise CommandError(f"{len(drifted)} tallies differ from their tables; run `manage.py tallies --rebuild`")
