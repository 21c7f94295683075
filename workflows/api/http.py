"""Cromwell's response bodies and HTTP Basic authentication with API tokens (authenticate, TokenAuth)."""
import base64
import binascii
import uuid

from django.core.exceptions import ValidationError
from django.http import JsonResponse
from ninja.security.base import AuthBase

from teams.services import api_token_authenticate

REALM = "Batchsite (user name and API token)"


class ApiError(Exception):
    """A request the API answers with Cromwell's failure body: {"status", "message", "errors"?}."""

    def __init__(self, status: int, message: str, errors: list[str] | None = None, kind: str = "fail"):
        super().__init__(message)
        self.status, self.message, self.errors, self.kind = status, message, list(errors or []), kind


def failure(status: int, message: str, errors: list[str] | None = None, kind: str = "fail",
            **headers: str) -> JsonResponse:
    """Return Cromwell's failure body; kind is "fail" for bad requests and "error" for server-side problems."""
    body = {"status": kind, "message": message}
    if errors:
        body["errors"] = list(errors)
    response = JsonResponse(body, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def validation_messages(exc: ValidationError) -> list[str]:
    """Flatten a ValidationError into "field: problem" lines."""
    if hasattr(exc, "error_dict"):
        return [message if field == "__all__" else f"{field}: {message}"
                for field, messages in exc.message_dict.items() for message in messages]
    return list(exc.messages)


def parse_run_id(value: str) -> uuid.UUID:
    """Return the UUID a path names, or fail as Cromwell does with 400 "Invalid workflow ID"."""
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        raise ApiError(400, f"Invalid workflow ID: '{value}'.") from None


def authenticate(request):
    """Return the user of the request's API token (HTTP Basic username:token, or Bearer), else None."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, credentials = header.partition(" ")
    scheme = scheme.lower()
    if scheme == "basic":
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
        username, sep, secret = decoded.partition(":")
        if not sep:
            return None
        return api_token_authenticate(username=username, secret=secret)
    if scheme == "bearer":
        return api_token_authenticate(username=None, secret=credentials.strip())
    return None


class TokenAuth(AuthBase):
    """django-ninja's auth: an API token (HTTP Basic or Bearer); a browser session also reads (GET, HEAD).

    The session lets the UI link to logs and timing; it never authorizes a write, so no CSRF check is needed.
    """

    openapi_type = "http"
    openapi_scheme = "basic"

    def __call__(self, request):
        user = authenticate(request)
        if user is None and request.method in ("GET", "HEAD") and "HTTP_AUTHORIZATION" not in request.META \
                and request.user.is_authenticated:
            user = request.user
        if user is not None:
            request.user = user
        return user


def unauthorized(request) -> JsonResponse:
    """Return the 401 answer: what is missing (no header) or wrong (a bad or revoked token)."""
    message = ("This API needs HTTP Basic authentication: your user name and an API token "
               "(create one on your account's API tokens page)")
    if "HTTP_AUTHORIZATION" in request.META:
        message = "The user name and API token are not valid (is the token revoked?)"
    return failure(401, message, WWW_Authenticate=f'Basic realm="{REALM}"')


def reject_nul(value, what: str):
    """Refuse JSON holding a NUL character, which PostgreSQL cannot store in text or jsonb; return value."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise ApiError(400, f"{what} contain a NUL character (\\u0000), which cannot be stored")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return value
