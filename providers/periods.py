"""Quota periods: days and months in QUOTA_TIMEZONE (UTC unless configured).

A usage row's `date` is the day it was recorded in that zone; the daily period resets at
that zone's midnight and the monthly one at midnight of the 1st. Everything is computed
from Python's clock (django.utils.timezone.now), so tests can freeze it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone


@lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ImproperlyConfigured(f"QUOTA_TIMEZONE {name!r} is not a known IANA time zone") from None


def quota_zone() -> ZoneInfo:
    return _zone(settings.QUOTA_TIMEZONE or "UTC")


def next_month(d: date) -> date:
    return date(d.year + 1, 1, 1) if d.month == 12 else date(d.year, d.month + 1, 1)


def _midnight(d: date, zone: ZoneInfo) -> datetime:
    # Midnight may not exist (a DST jump at 00:00); fold handling by zoneinfo picks the
    # instant right after, which is when the day begins.
    return datetime(d.year, d.month, d.day, tzinfo=zone)


@dataclass(frozen=True)
class Periods:
    now: datetime
    day: date
    month_start: date
    next_month_start: date
    day_resets_at: datetime
    month_resets_at: datetime

    def seconds_until(self, resets_at: datetime) -> int:
        return max(1, math.ceil((resets_at - self.now).total_seconds()))


def current_periods(now: datetime | None = None) -> Periods:
    zone = quota_zone()
    now = now or timezone.now()
    local = now.astimezone(zone)
    day = local.date()
    month_start = day.replace(day=1)
    following = next_month(month_start)
    return Periods(
        now=now,
        day=day,
        month_start=month_start,
        next_month_start=following,
        day_resets_at=_midnight(day + timedelta(days=1), zone),
        month_resets_at=_midnight(following, zone),
    )
