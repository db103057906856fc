"""`make bench-peers`: Tristate beside what its users would build instead.

Four small Django 5.2 + DRF projects share one app (`bench.peers.lab`: an experiment
model shaped like experiments.Experiment, a ModelSerializer, a GenericViewSet with a
`transition` action, django-filter, page-number pagination, token authentication) and
differ only in their history library, chosen by the settings module:

- `bench.peers.settings.plain`: no history (the framework floor);
- `bench.peers.settings.pghistory`: django-pghistory, insert/update events by trigger;
- `bench.peers.settings.auditlog`: django-auditlog, a registered model;
- `bench.peers.settings.simplehistory`: django-simple-history, HistoricalRecords.

`python -m bench.peers` (bench/peers/__main__.py) runs them, Tristate and a raw psycopg
floor, each in its own database, and reports Tristate's figures as ratios to theirs.
"""
