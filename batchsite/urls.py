from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path

from teams import views as team_views
from workflows.api.app import api as cromwell_api
from workflows.api.middleware import api_not_found

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/tokens/", team_views.tokens, name="tokens"),
    path("account/tokens/<int:pk>/revoke/", team_views.token_revoke, name="token_revoke"),
    path("", include("notifications.urls")),
    path("api/ga4gh/wes/v1/", include("workflows.wes.urls")),
    path("", cromwell_api.urls),
    path("", include("workflows.urls")),
    path("", include("teams.urls")),
    re_path(r"^(api|engine)/", api_not_found, name="api_not_found"),  # last: after every API's routes
]


def handler500(request):
    """Answer JSON under the API's paths (an error raised outside a view), Django's 500 page elsewhere."""
    from django.views.defaults import server_error

    from workflows.api.middleware import is_api_path, server_error_body

    return server_error_body(request) if is_api_path(request.path) else server_error(request)
