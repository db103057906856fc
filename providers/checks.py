"""System checks (`manage.py check`, run at start-up): the quota settings must be usable,
or every usage record would fail at run time instead."""

from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.checks import Error, register


@register()
def quota_settings(app_configs=None, **kwargs):
    errors = []
    from providers.periods import _zone

    try:
        _zone(settings.QUOTA_TIMEZONE or "UTC")
    except Exception:
        errors.append(
            Error(f"QUOTA_TIMEZONE {settings.QUOTA_TIMEZONE!r} is not an IANA time zone name.", id="providers.E001")
        )
    for name in ("QUOTA_DEFAULT_DAILY_REQUESTS", "QUOTA_DEFAULT_MONTHLY_REQUESTS"):
        value = getattr(settings, name, None)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            errors.append(Error(f"{name} must be a whole number, 0 or more.", id="providers.E002"))
    for name in ("QUOTA_DEFAULT_DAILY_COST_USD", "QUOTA_DEFAULT_MONTHLY_COST_USD"):
        try:
            amount = Decimal(str(getattr(settings, name, None)))
            ok = amount.is_finite() and amount >= 0 and amount.as_tuple().exponent >= -6
        except (InvalidOperation, ValueError):
            ok = False
        if not ok:
            errors.append(
                Error(f"{name} must be a USD amount, 0 or more, with at most 6 decimals.", id="providers.E003")
            )
    return errors
