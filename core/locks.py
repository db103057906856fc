"""Every PostgreSQL advisory lock key of the project, in one registry.

Keys are 73AANNN: AA the area (00 core, 01 audit log and the v1/v3 config hashes, 07
providers, 08 production, 09 legacy import), NNN the lock. A lock taken with two keys
(`pg_advisory_xact_lock(key, n)`) lives in a space of its own, apart from the one-key
locks, so the first key names the family and the second the item (a tally, a config
hash, a user).

Some keys are also written, as numbers, into SQL functions that migrations installed
(the audit partition lock, the tally fold, the per-user usage lock); a migration's SQL is
frozen text, so those numbers must never change here either.
"""

from enum import IntEnum, unique


@unique
class AdvisoryLock(IntEnum):
    # core.db.tallies: one fold of a tally at a time (two keys: this, hashtext(tally table)).
    TALLY_FOLD = 7300001
    # audits: creating a monthly partition (inside audits.ensure_partition(), SQL).
    AUDIT_PARTITION = 7301001
    # audits.chain: the sequencer that seals committed entries into the hash chain.
    AUDIT_SEQUENCER = 7301002
    # audits.upkeep: partition creation and retirement, one run at a time.
    AUDIT_UPKEEP = 7301003
    # quarantine.services.blacklist: one config hash (two keys: this, the hash's key);
    # creation takes it shared, blacklisting exclusively.
    CONFIG_HASH = 7301101
    # providers: one user's usage recorders (two keys: this, hashtext(user id); SQL).
    USAGE_USER = 7307001
    # providers: re-wrapping the data keys under a new key-encryption key.
    ROTATE_KEK = 7307002
    # providers: the health probes, one run at a time.
    CHECK_PROVIDERS = 7307003
    # providers: the catalog entry a legacy import creates (two keys: this, the model).
    IMPORT_CATALOG = 7307004
    # production: purge_expired, one run at a time.
    PURGE = 7308001
    # legacy: import_legacy, one run at a time.
    LEGACY_IMPORT = 7309001
