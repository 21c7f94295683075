"""Cromwell's paths: /api/workflows/v1, /api/womtool/v1, /engine/v1, and the OpenAPI document."""
from django.urls import path, re_path, register_converter

from workflows.api import views


class Version:
    regex = "v1"

    def to_python(self, value):
        return value

    def to_url(self, value):
        return value


class Segment:
    """Any one path segment, so a malformed workflow id reaches the view and gets Cromwell's 400."""

    regex = "[^/]+"

    def to_python(self, value):
        return value

    def to_url(self, value):
        return str(value)


register_converter(Version, "api_version")
register_converter(Segment, "segment")

app_name = "api"
W = "api/workflows/<api_version:version>"
urlpatterns = [
    path("api/openapi.json", views.openapi, name="openapi"),
    path(W, views.submit, name="submit"),
    path(f"{W}/batch", views.submit_batch, name="submit_batch"),
    path(f"{W}/backends", views.backends, name="backends"),
    path(f"{W}/query", views.query, name="query"),
    path(f"{W}/callcaching/diff", views.callcaching_diff, name="callcaching_diff"),
    path(f"{W}/<segment:run_id>/status", views.status, name="status"),
    path(f"{W}/<segment:run_id>/outputs", views.outputs, name="outputs"),
    path(f"{W}/<segment:run_id>/logs", views.logs, name="logs"),
    path(f"{W}/<segment:run_id>/labels", views.labels, name="labels"),
    path(f"{W}/<segment:run_id>/abort", views.abort, name="abort"),
    path(f"{W}/<segment:run_id>/releaseHold", views.release_hold, name="release_hold"),
    path(f"{W}/<segment:run_id>/metadata", views.metadata, name="metadata"),
    path(f"{W}/<segment:run_id>/metadata/failed-jobs", views.failed_jobs, name="failed_jobs"),
    path(f"{W}/<segment:run_id>/timing", views.timing, name="timing"),
    path(f"{W}/<segment:run_id>/cost", views.cost, name="cost"),
    path(f"{W}/<segment:run_id>/calls/<segment:call_pk>/log", views.call_log, name="call_log"),
    path("api/womtool/<api_version:version>/describe", views.describe, name="describe"),
    path("engine/<api_version:version>/version", views.engine_version, name="engine_version"),
    path("engine/<api_version:version>/status", views.engine_status, name="engine_status"),
    re_path(r"^(api|engine)/", views.not_found, name="not_found"),
]
