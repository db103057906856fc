"""Template tags of the console."""

from __future__ import annotations

import calendar
import datetime

from django import template
from django.contrib.admin.templatetags.admin_list import date_hierarchy
from django.contrib.admin.templatetags.base import InclusionAdminNode
from django.contrib.admin.utils import get_fields_from_path
from django.db import models
from django.utils import formats, timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _

register = template.Library()


def _bounds(cl, field_name: str, is_datetime: bool):
    """First and last value of the field in the list's rows: one Min/Max query, which
    PostgreSQL answers from the ends of the field's index."""
    found = cl.queryset.aggregate(first=models.Min(field_name), last=models.Max(field_name))
    first, last = found["first"], found["last"]
    if first is None or last is None:
        return None, None
    if is_datetime:
        first, last = (timezone.localtime(v) if timezone.is_aware(v) else v for v in (first, last))
        first, last = first.date(), last.date()
    return first, last


def cheap_date_hierarchy(cl):
    """Django's date hierarchy with the same links, but the years, months and days on
    offer come from the calendar between the first and last date of the rows instead of
    `SELECT DISTINCT date_trunc(...)` over every row of a year or month (a scan of a
    month of the audit log on every page load). A link may lead to an empty day."""
    field_name = cl.date_hierarchy
    field = get_fields_from_path(cl.model, field_name)[-1]
    is_datetime = isinstance(field, models.DateTimeField)
    year_field, month_field, day_field = f"{field_name}__year", f"{field_name}__month", f"{field_name}__day"
    field_generic = f"{field_name}__"

    def link(filters):
        return cl.get_query_string(filters, [field_generic])

    def as_int(value):
        try:
            return int(value[-1] if isinstance(value, list) else value)
        except (TypeError, ValueError):
            return None

    year, month, day = (as_int(cl.params.get(f)) for f in (year_field, month_field, day_field))
    first, last = _bounds(cl, field_name, is_datetime)
    if first is None:
        return {"show": False}
    if not (year or month or day) and first.year == last.year:
        year = first.year
        if first.month == last.month:
            month = first.month

    if year and month and day:
        shown = datetime.date(year, month, day)
        return {
            "show": True,
            "back": {
                "link": link({year_field: year, month_field: month}),
                "title": capfirst(formats.date_format(shown, "YEAR_MONTH_FORMAT")),
            },
            "choices": [{"title": capfirst(formats.date_format(shown, "MONTH_DAY_FORMAT"))}],
        }
    if year and month:
        days = [
            datetime.date(year, month, d)
            for d in range(1, calendar.monthrange(year, month)[1] + 1)
            if first <= datetime.date(year, month, d) <= last
        ]
        return {
            "show": True,
            "back": {"link": link({year_field: year}), "title": str(year)},
            "choices": [
                {
                    "link": link({year_field: year, month_field: month, day_field: d.day}),
                    "title": capfirst(formats.date_format(d, "MONTH_DAY_FORMAT")),
                }
                for d in days
            ],
        }
    if year:
        months = [
            datetime.date(year, m, 1)
            for m in range(1, 13)
            if (first.year, first.month) <= (year, m) <= (last.year, last.month)
        ]
        return {
            "show": True,
            "back": {"link": link({}), "title": _("All dates")},
            "choices": [
                {
                    "link": link({year_field: year, month_field: m.month}),
                    "title": capfirst(formats.date_format(m, "YEAR_MONTH_FORMAT")),
                }
                for m in months
            ],
        }
    return {
        "show": True,
        "back": None,
        "choices": [{"link": link({year_field: str(y)}), "title": str(y)} for y in range(first.year, last.year + 1)],
    }


def console_date_hierarchy(cl):
    if getattr(cl.model_admin, "big_table", False):
        return cheap_date_hierarchy(cl)
    return date_hierarchy(cl)


@register.tag(name="console_date_hierarchy")
def console_date_hierarchy_tag(parser, token):
    return InclusionAdminNode(
        parser, token, func=console_date_hierarchy, template_name="date_hierarchy.html", takes_context=False
    )


@register.filter
def thousands(value) -> str:
    """1234567 → "1,234,567" (the console's figures; humanize is not installed)."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)
