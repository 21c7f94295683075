"""The project's URLs plus one API route and one page that fail unexpectedly, for the 500 handling tests."""
from django.urls import include, path


def boom(request):
    raise RuntimeError("an unexpected failure deep in a view")


urlpatterns = [
    path("api/workflows/v1/boom", boom),
    path("boom/", boom),
    path("", include("batchsite.urls")),
]
