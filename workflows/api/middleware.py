"""Under the API's paths every error is Cromwell's JSON failure body, never an HTML page: unexpected exceptions,
and what answers before any API view does (django-ninja's 405, Django's own 400 for an unreadable body)."""
import logging

from workflows.api.http import failure

logger = logging.getLogger("batchsite.api")
API_PREFIXES = ("/api/", "/engine/")


def is_api_path(path: str) -> bool:
    """Tell whether a path belongs to the Cromwell API, whose clients read JSON only."""
    return path.startswith(API_PREFIXES)


def server_error_body(request):
    """Return the 500 answer for an API request: Cromwell's {"status": "error", "message"}."""
    return failure(500, f"Batchsite could not answer {request.method} {request.path[:200]}: an internal error was "
                        "logged for the operators", kind="error")


def api_not_found(request, *args):
    """Answer an unknown API path in JSON, as the rest of the API does."""
    return failure(404, f"No API route {request.path}: see /api/openapi.json")


class ApiExceptionMiddleware:
    """Answer JSON for every error under the API's paths, logging an unexpected exception with its traceback."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code < 400 or not is_api_path(request.path) \
                or response.get("Content-Type", "").startswith("application/json"):
            return response
        if response.status_code == 405:
            allowed = ", ".join(sorted(method.strip() for method in response.get("Allow", "").split(",")))
            return failure(405, f"HTTP method not allowed, supported methods: {allowed}", Allow=allowed)
        kind = "error" if response.status_code >= 500 else "fail"
        return failure(response.status_code, f"{request.method} {request.path[:200]}: "
                                             f"{response.reason_phrase}", kind=kind)

    def process_exception(self, request, exception):
        if not is_api_path(request.path):
            return None  # the browser's pages keep Django's handling (templates/500.html)
        logger.error("Unexpected error answering %s %s", request.method, request.path, exc_info=exception)
        return server_error_body(request)
