"""The Cromwell API's NinjaAPI: token auth, Cromwell's failure bodies for every error, the generated document."""
import logging

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation, ValidationError
from django.http import Http404, UnreadablePostError
from django.http.multipartparser import MultiPartParserError
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as RequestValidationError

from workflows.api import SERVER_VERSION, views
from workflows.api.http import ApiError, TokenAuth, failure, unauthorized, validation_messages
from workflows.api.middleware import server_error_body

logger = logging.getLogger("batchsite.api")


class CromwellApi(NinjaAPI):
    """A NinjaAPI mounted at the site's root, whose document lists each GET route once (HEAD reaches it too)."""

    @property
    def urls(self):
        # without ninja's own page at the API's root: the site's root is the teams' dashboard
        patterns, app_name, namespace = super().urls
        return [pattern for pattern in patterns if pattern.name != "api-root"], app_name, namespace

    def get_root_path(self, path_params):
        return "/"

    def get_openapi_schema(self, **kwargs):
        schema = super().get_openapi_schema(**kwargs)
        for operations in schema["paths"].values():
            operations.pop("head", None)
        return schema


api = CromwellApi(
    title="Batchsite's Cromwell-compatible API", version=SERVER_VERSION, urls_namespace="api",
    description="Cromwell's REST API (paths, status codes, JSON shapes), scoped to your teams. "
                "Authenticate with HTTP Basic: your user name and an API token.",
    openapi_url="/api/openapi.json", docs_url=None, auth=TokenAuth(),
)
api.add_router("", views.router)


@api.exception_handler(ApiError)
def _api_error(request, exc: ApiError):
    return failure(exc.status, exc.message, exc.errors, exc.kind)


@api.exception_handler(ValidationError)
def _validation_error(request, exc: ValidationError):
    errors = validation_messages(exc)
    return failure(400, "; ".join(errors), errors)


@api.exception_handler(RequestValidationError)
def _request_validation_error(request, exc: RequestValidationError):
    errors = [f"{'.'.join(str(part) for part in error['loc'][1:]) or error['loc'][0]}: {error['msg']}"
              for error in exc.errors]
    return failure(400, "; ".join(errors), errors)


@api.exception_handler(AuthenticationError)
def _unauthorized(request, exc: AuthenticationError):
    return unauthorized(request)


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    return failure(exc.status_code, exc.message)


@api.exception_handler(PermissionDenied)
def _forbidden(request, exc: PermissionDenied):
    return failure(403, str(exc) or "You may not do that.")


@api.exception_handler(Http404)
def _not_found(request, exc: Http404):
    return failure(404, str(exc) or "Not found.")


@api.exception_handler(RequestDataTooBig)
def _too_big(request, exc: RequestDataTooBig):
    return failure(413, "The request is too large: send the WDL, inputs and options as file parts")


def _unreadable(request, exc: Exception):
    return failure(400, f"The request body could not be read: {exc}")


for _kind in (MultiPartParserError, UnreadablePostError, SuspiciousOperation):
    api.add_exception_handler(_kind, _unreadable)


@api.exception_handler(Exception)
def _unexpected(request, exc: Exception):
    logger.error("Unexpected error answering %s %s", request.method, request.path, exc_info=exc)
    return server_error_body(request)
