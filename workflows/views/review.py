"""After a run: edit its labels, and compare it with another run side by side."""
import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest, ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from workflows import selectors
from workflows.forms import LabelsForm, labels_text
from workflows.selectors.compare import run_comparison
from workflows.services.runs import run_labels_set


@login_required
@require_http_methods(["GET", "POST"])
def run_labels(request, pk):
    """Edit a run's labels (those who may act on the run): the same rules as at launch, audited."""
    run = selectors.run_get_for_user(user=request.user, pk=pk, write=True)
    form = LabelsForm(request.POST or None, initial={"labels": labels_text(run.labels or {})})
    if request.method == "POST" and form.is_valid():
        try:
            run_labels_set(run=run, user=request.user, labels=form.cleaned_data["labels"], replace=True)
        except ValidationError as exc:
            form.add_error("labels", exc.message_dict.get("labels", exc.messages))
        else:
            messages.success(request, "Labels saved.")
            return redirect("workflows:run_detail", pk=run.pk)
    return render(request, "workflows/run_labels.html", {"run": run, "form": form},
                  status=400 if form.errors else 200)


def _run_id(request, name: str) -> uuid.UUID:
    value = request.GET.get(name, "")
    try:
        return uuid.UUID(value[:100])
    except ValueError:
        raise BadRequest(f"{name}: {value[:40]!r} is not a run id; compare takes ?a=<run id>&b=<run id>") from None


@login_required
def run_compare(request):
    """Show two runs the user may read side by side: inputs, options, labels, outputs, calls."""
    a, b = _run_id(request, "a"), _run_id(request, "b")
    comparison = run_comparison(a=selectors.run_get_for_user(user=request.user, pk=a),
                                b=selectors.run_get_for_user(user=request.user, pk=b))
    return render(request, "workflows/run_compare.html", {"c": comparison})
