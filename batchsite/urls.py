from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from teams import views as team_views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/tokens/", team_views.tokens, name="tokens"),
    path("account/tokens/<int:pk>/revoke/", team_views.token_revoke, name="token_revoke"),
    path("", include("workflows.api.urls")),
    path("", include("workflows.urls")),
    path("", include("teams.urls")),
]
