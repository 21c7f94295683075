from django.urls import path

from workflows import views

app_name = "workflows"
urlpatterns = [
    path("teams/<slug:team_slug>/projects/<slug:project_slug>/workflows/new/", views.workflow_create, name="create"),
    path("teams/<slug:team_slug>/runs/", views.run_list, name="run_list"),
    path("workflows/<int:pk>/", views.workflow_detail, name="detail"),
    path("workflows/<int:pk>/versions/", views.version_upload, name="version_upload"),
    path("workflows/<int:pk>/versions/<int:number>/", views.version_source, name="version_source"),
    path("workflows/<int:pk>/diff/", views.version_diff, name="version_diff"),
    path("workflows/<int:pk>/launch/", views.run_launch, name="launch"),
    path("workflows/<int:pk>/sheet/", views.sheet_launch, name="sheet_launch"),
    path("batches/<int:pk>/", views.batch_detail, name="batch_detail"),
    path("batches/<int:pk>/rows/", views.batch_rows_live, name="batch_rows"),
    path("runs/compare/", views.run_compare, name="run_compare"),
    path("runs/<uuid:pk>/", views.run_detail, name="run_detail"),
    path("runs/<uuid:pk>/labels/", views.run_labels, name="run_labels"),
    path("runs/<uuid:pk>/live/", views.run_live, name="run_live"),
    path("runs/<uuid:pk>/timeline/", views.run_timeline, name="run_timeline"),
    path("runs/<uuid:pk>/abort/", views.run_abort, name="run_abort"),
    path("runs/<uuid:pk>/relaunch/", views.run_relaunch, name="run_relaunch"),
    path("runs/<uuid:pk>/retry/", views.run_retry, name="run_retry"),
    path("runs/<uuid:pk>/cleanup/", views.run_cleanup, name="run_cleanup"),
    path("runs/<uuid:pk>/outputs/<str:key>/<int:index>/", views.run_output, name="run_output"),
    path("runs/<uuid:pk>/outputs/<str:key>/<int:index>/download/", views.run_output_download,
         name="run_output_download"),
    path("calls/<int:pk>/logs/<str:stream>/", views.call_log, name="call_log"),
    path("calls/<int:pk>/logs/<str:stream>/tail/", views.call_log_tail, name="call_log_tail"),
    path("calls/<int:pk>/logs/<str:stream>/download/", views.call_log_download, name="call_log_download"),
]
