"""The user's API tokens for the Cromwell-compatible API: create (shown once) and revoke."""
from urllib.parse import urlsplit

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from teams import services


@login_required
@require_http_methods(["GET", "POST"])
def tokens(request):
    """List the user's tokens; a POST creates one and shows its secret this once."""
    secret, error, name = None, None, ""
    if request.method == "POST":
        name = request.POST.get("name", "")
        try:
            token, secret = services.api_token_create(user=request.user, name=name)
        except ValidationError as exc:
            error = "; ".join(exc.messages)
        else:
            name = token.name
    return render(request, "teams/tokens.html", {
        "tokens": request.user.api_tokens.order_by("-created"),
        "secret": secret,
        "new_name": name,
        "error": error,
        "api_url": request.build_absolute_uri("/"),
        "netrc_host": urlsplit(request.build_absolute_uri("/")).hostname,
    }, status=400 if error else 200)


@login_required
@require_POST
def token_revoke(request, pk: int):
    """Revoke one of the user's tokens: the next request that sends it gets 401."""
    token = services.api_token_revoke(user=request.user, pk=pk)
    messages.success(request, f"Token {token.name} ({token.prefix}…) is revoked.")
    return redirect("tokens")
