"""Start-up checks of the quota settings."""

from django.test import override_settings

from providers.checks import quota_settings


def test_default_settings_pass():
    assert quota_settings() == []


@override_settings(
    QUOTA_TIMEZONE="Mars/Olympus_Mons",
    QUOTA_DEFAULT_DAILY_REQUESTS=-1,
    QUOTA_DEFAULT_MONTHLY_COST_USD="lots",
    QUOTA_DEFAULT_DAILY_COST_USD="0.0000001",
)
def test_bad_settings_are_reported():
    assert sorted(e.id for e in quota_settings()) == [
        "providers.E001",
        "providers.E002",
        "providers.E003",
        "providers.E003",
    ]
