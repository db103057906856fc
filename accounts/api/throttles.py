"""The `auth` throttle (THROTTLE_AUTH) on login, registration, refresh, verification and
password reset.

DRF keys anonymous clients by the whole X-Forwarded-For header when NUM_PROXIES is not
set, so a client that sends a fresh made-up header with each request gets a fresh
budget. This throttle keys them by the address accounts trusts everywhere else
(accounts.services.client_ip: the socket address, or the balancer's right-most entry
when TRUST_X_FORWARDED_FOR is on).
"""

from rest_framework.throttling import ScopedRateThrottle


class AuthRateThrottle(ScopedRateThrottle):
    scope_attr = "throttle_scope"

    def get_ident(self, request):
        from accounts.services import client_ip

        return client_ip(request) or "unknown"
