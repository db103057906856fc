"""Types the accounts services share with their callers."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from rest_framework.request import Request

from accounts.models import User

# The request a service is handed, for the client's address and user agent: DRF's from
# the API, Django's from the admin console's login.
AnyRequest = HttpRequest | Request


class SignedInRequest(Request):
    """What a view's handlers see behind a permission class that lets only active users
    in (RoleBasedAccess, the default; SelfService; AdminOnly...): DRF's request, whose
    user is one of ours. The permission check runs before any handler, get_queryset or
    perform_* method; views annotate `request: SignedInRequest` to say so."""

    user: User  # narrows DRF's `User | AnonymousUser`


# Whoever reads through a selector: a signed-in user, Django's anonymous user, or nobody
# (a read by the system); each selector decides what they see.
Reader = User | AnonymousUser | None
