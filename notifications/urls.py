from django.urls import path

from notifications import views

urlpatterns = [
    path("account/notifications/", views.preferences, name="notification_preferences"),
    path("teams/<slug:slug>/webhooks/", views.webhooks, name="webhooks"),
    path("webhooks/<int:pk>/rotate/", views.webhook_rotate, name="webhook_rotate"),
    path("webhooks/<int:pk>/active/", views.webhook_active, name="webhook_active"),
    path("webhooks/<int:pk>/delete/", views.webhook_delete, name="webhook_delete"),
]
