"""Cromwell's response bodies, HTTP Basic authentication with API tokens, and the view decorator."""
import base64
import binascii
import functools
import uuid

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation, ValidationError
from django.http import Http404, JsonResponse, UnreadablePostError
from django.http.multipartparser import MultiPartParserError
from django.views.decorators.csrf import csrf_exempt

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


def api_view(*methods: str, auth: bool = True):
    """Make a view an API endpoint: allowed methods, token auth (401 JSON), and no HTML error pages.

    A browser session also authenticates safe (GET) requests, so the UI can link to logs and timing.
    """
    allowed = {m.upper() for m in methods} | ({"HEAD"} if "GET" in methods else set())

    def decorate(view):
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method not in allowed:
                return failure(405, f"HTTP method not allowed, supported methods: {', '.join(sorted(allowed))}",
                               Allow=", ".join(sorted(allowed)))
            if auth:
                user = authenticate(request)
                if user is None and request.method in ("GET", "HEAD") and request.user.is_authenticated \
                        and "HTTP_AUTHORIZATION" not in request.META:
                    user = request.user
                if user is None:
                    message = ("This API needs HTTP Basic authentication: your user name and an API token "
                               "(create one on your account's API tokens page)")
                    if "HTTP_AUTHORIZATION" in request.META:
                        message = "The user name and API token are not valid (is the token revoked?)"
                    return failure(401, message, WWW_Authenticate=f'Basic realm="{REALM}"')
                request.user = user
            try:
                return view(request, *args, **kwargs)
            except ApiError as exc:
                return failure(exc.status, exc.message, exc.errors, exc.kind)
            except ValidationError as exc:
                errors = validation_messages(exc)
                return failure(400, "; ".join(errors), errors)
            except PermissionDenied as exc:
                return failure(403, str(exc) or "You may not do that.")
            except Http404 as exc:
                return failure(404, str(exc) or "Not found.")
            except RequestDataTooBig:
                return failure(413, "The request is too large: send the WDL, inputs and options as file parts")
            except (MultiPartParserError, UnreadablePostError, SuspiciousOperation) as exc:
                return failure(400, f"The request body could not be read: {exc}")
        return wrapper
    return decorate


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
