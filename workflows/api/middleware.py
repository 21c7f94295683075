"""Unexpected errors under the API's paths answer Cromwell's JSON failure body, never Django's HTML page."""
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


class ApiExceptionMiddleware:
    """Log a view's unexpected exception with its traceback and answer JSON, for requests under the API's paths."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not is_api_path(request.path):
            return None  # the browser's pages keep Django's handling (templates/500.html)
        logger.error("Unexpected error answering %s %s", request.method, request.path, exc_info=exception)
        return server_error_body(request)
