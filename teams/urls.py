from django.urls import path

from teams import views

app_name = "teams"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("teams/<slug:slug>/slots/", views.slots, name="slots"),
    path("teams/<slug:slug>/audit/", views.audit, name="audit"),
    path("teams/<slug:slug>/cost-tags/", views.cost_tags, name="cost_tags"),
    path("teams/<slug:slug>/caching/", views.caching, name="caching"),
]
