"""WES's paths under /api/ga4gh/wes/v1: the NinjaAPI's routes, JSON 405s, and a JSON 404 for any other path."""
import functools

from django.http import HttpResponseNotAllowed
from django.urls import URLPattern, path
from django.views.decorators.csrf import csrf_exempt

from workflows.wes.api import BASE_PATH, api
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
def _not_found(request, rest="", **kwargs):
    return error_response(404, f"No WES route {request.path[:200]}: see {BASE_PATH}/openapi.json")


app_name = "wes"
urlpatterns = [
    # django-ninja's api-root (named for reverse(); its own view raises a bare Http404) answers ErrorResponse too
    *(URLPattern(route.pattern, _not_found if route.name == "api-root" else _json_not_allowed(route.callback),
                 route.default_args, route.name)
      for route in api.urls[0]),
    path("<path:rest>", _not_found, name="not_found"),
]
