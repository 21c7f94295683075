"""The client's address and user name as login throttling (django-axes) counts them."""
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


def login_username(request, credentials: dict | None = None) -> str:
    """Return the user name a login tried, cut to what a user name can be (150 characters).

    axes stores it in a 255-character column: a longer name typed into the form must be counted,
    not turned into a database error.
    """
    data = credentials if credentials is not None else getattr(request, "data", request.POST)
    return str(data.get("username") or "").replace("\x00", "")[:150]
