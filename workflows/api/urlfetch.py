"""Fetch a workflowUrl: only under the operators' allowed prefixes, never into the site's own network.

Cromwell fetches any URL; a multi-tenant server must not (SSRF). A URL must start with one of
`workflow-url.allowed-prefixes` (HOCON); its host is resolved once and the connection goes to that
address, which must be a public one unless the allowed prefix names that very address (an operator
serving WDL from a host of their own network names it). No redirects, a size limit, a time limit.
"""
import http.client
import ssl
import time
import urllib.parse

from batchsite.config import get_config
from batchsite.outbound import PrivateAddress, is_literal, pinned_connection, public_address
from workflows.api.http import ApiError
from workflows.services.versions import MAX_SOURCE_BYTES

SETTING = "workflow-url.allowed-prefixes"
TIMEOUT_SECONDS = 10  # connecting, and the whole download
MAX_URL_LENGTH = 2000


def _refuse(url: str, why: str) -> ApiError:
    return ApiError(400, f"workflowUrl {url[:200]} {why}", [f"workflowUrl: {why}"])


def workflow_url_fetch(url: str) -> tuple[bytes, str]:
    """Return the WDL at url and a file name for it; ApiError(400) naming workflowUrl and what refused it."""
    url = url.strip()
    prefixes = get_config().workflow_url_prefixes
    if not prefixes:
        raise _refuse(url, f"is not fetched: this server fetches no workflow URLs (its operators set none in "
                           f"{SETTING}); send the WDL itself as workflowSource")
    parts = urllib.parse.urlsplit(url)
    if len(url) > MAX_URL_LENGTH or parts.scheme not in ("http", "https") or not parts.hostname \
            or parts.username is not None or not any(url.startswith(prefix) for prefix in prefixes):
        raise _refuse(url, f"is not under a prefix this server fetches from ({SETTING}: {', '.join(prefixes)})")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = public_address(parts.hostname, port, private_ok=is_literal(parts.hostname))
    except PrivateAddress:
        raise _refuse(url, "names a host that resolves to a private, loopback or link-local address") from None
    except (OSError, ValueError) as exc:
        raise _refuse(url, f"cannot be fetched: {exc}") from None
    try:
        return _get(parts, address, port), _filename(parts.path)
    except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
        raise _refuse(url, f"could not be fetched: {exc}") from None


def _get(parts, address: str, port: int) -> bytes:
    connection = pinned_connection(parts.scheme, parts.hostname, port, address, timeout=TIMEOUT_SECONDS)
    deadline = time.monotonic() + TIMEOUT_SECONDS
    try:
        connection.request("GET", urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, "")),
                           headers={"Accept": "text/plain, */*", "User-Agent": "batchsite"})
        response = connection.getresponse()
        if response.status != 200:
            raise OSError(f"the server answered {response.status} {response.reason}"
                          + (" (redirects are not followed)" if 300 <= response.status < 400 else ""))
        data = bytearray()
        while chunk := response.read(64 * 1024):
            data += chunk
            if len(data) > MAX_SOURCE_BYTES:
                raise OSError(f"it is over {MAX_SOURCE_BYTES:,} bytes")
            if time.monotonic() > deadline:
                raise OSError(f"it took over {TIMEOUT_SECONDS} s")
        return bytes(data)
    finally:
        connection.close()


def _filename(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return name if name.endswith(".wdl") else "main.wdl"
