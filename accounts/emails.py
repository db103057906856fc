"""E-mails of the accounts flows, sent through Django's e-mail backend (EMAIL_URL) after
the transaction that decided to send them commits (a rolled-back registration sends
nothing). Templates: templates/accounts/<name>_subject.txt and <name>.txt, plain text.

A failing mail server never fails the request that already committed: the error is
logged (robust on_commit) and the user can ask again (resend / new reset).
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string

logger = logging.getLogger("tristate.accounts")


def frontend_link(path: str, **params) -> str:
    return f"{settings.FRONTEND_URL.rstrip('/')}/{path.lstrip('/')}?{urlencode(params)}"


def _send(template: str, to: str, context: dict) -> None:
    subject = " ".join(render_to_string(f"accounts/{template}_subject.txt", context).split())
    body = render_to_string(f"accounts/{template}.txt", context)
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [to], fail_silently=False)


def send_after_commit(template: str, *, to: str, context: dict) -> None:
    """Queue the e-mail for after the current transaction commits (at once outside one)."""

    def deliver():
        try:
            _send(template, to, context)
        except Exception:  # the e-mail is lost, not the committed change: log and go on
            logger.exception("could not send the %s e-mail", template)

    transaction.on_commit(deliver)
