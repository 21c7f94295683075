from django.urls import path

from workflows import views

app_name = "workflows"
urlpatterns = [
    path("teams/<slug:team_slug>/projects/<slug:project_slug>/workflows/new/", views.workflow_create, name="create"),
    path("workflows/<int:pk>/", views.workflow_detail, name="detail"),
    path("workflows/<int:pk>/versions/", views.version_upload, name="version_upload"),
]
