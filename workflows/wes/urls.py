"""WES's paths under /api/ga4gh/wes/v1: the NinjaAPI's routes, JSON 405s, and a JSON 404 for any other path."""
import functools

from django.http import HttpResponseNotAllowed
from django.urls import URLPattern, path
from django.views.decorators.csrf import csrf_exempt

from workflows.wes.api import api
from workflows.wes.errors import error_response


def _json_not_allowed(view):
    """Answer a method the route does not take with ErrorResponse (django-ninja answers plain text)."""
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if isinstance(response, HttpResponseNotAllowed):
            return error_response(405, f"{request.method} is not allowed here; allowed: {response['Allow']}",
                                  Allow=response["Allow"])
        return response
    wrapper.csrf_exempt = True
    return wrapper


@csrf_exempt
def _not_found(request, rest):
    return error_response(404, f"No WES route {request.path[:200]}: see /api/ga4gh/wes/v1/openapi.json")


app_name = "wes"
urlpatterns = [
    *(URLPattern(route.pattern, _json_not_allowed(route.callback), route.default_args, route.name)
      for route in api.urls[0]),
    path("<path:rest>", _not_found, name="not_found"),
]
