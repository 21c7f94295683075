"""WES's ErrorResponse ({"msg", "status_code"}) and the messages of Django's errors in WES's words."""
from django.core.exceptions import ValidationError
from django.http import JsonResponse

# The submission services name Batchsite's fields; a WES client sent them under these names.
FIELD_NAMES = {"inputs": "workflow_params", "options": "workflow_engine_parameters", "labels": "tags",
               "source": "workflow_url", "imports": "workflow_attachment", "files": "workflow_attachment"}


class WesError(Exception):
    """A request WES answers with ErrorResponse and this status."""

    def __init__(self, status: int, msg: str):
        super().__init__(msg)
        self.status, self.msg = status, msg


def error_response(status: int, msg: str, **headers: str) -> JsonResponse:
    """Return WES's ErrorResponse body with the status."""
    response = JsonResponse({"msg": msg, "status_code": status}, status=status)
    for name, value in headers.items():
        response[name] = value
    return response


def validation_message(exc: ValidationError) -> str:
    """Flatten a ValidationError into "field: problem" lines joined by "; ", fields named as WES names them."""
    if not hasattr(exc, "error_dict"):
        return "; ".join(exc.messages)
    return "; ".join(message if field == "__all__" else f"{FIELD_NAMES.get(field, field)}: {message}"
                     for field, messages in exc.message_dict.items() for message in messages)
