"""The client's address as login throttling (django-axes) counts it."""
from django.conf import settings


def client_ip(request) -> str:
    """Return the client's address: REMOTE_ADDR, or the one the trusted proxies in front recorded.

    Each of BATCHSITE_PROXY_COUNT proxies appends the address it was reached from to X-Forwarded-For,
    so the client is that many entries from the end; entries before it are whatever the client sent.
    """
    count = settings.BATCHSITE_PROXY_COUNT
    if count > 0:
        forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
        if len(forwarded) >= count:
            return forwarded[-count]
    return request.META.get("REMOTE_ADDR", "")
