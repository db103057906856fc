"""Types the accounts services share with their callers."""

from __future__ import annotations

from django.http import HttpRequest
from rest_framework.request import Request

# The request a service is handed, for the client's address and user agent: DRF's from
# the API, Django's from the admin console's login.
AnyRequest = HttpRequest | Request
