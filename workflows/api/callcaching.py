"""GET /api/workflows/v1/callcaching/diff: how the hashes of two calls differ, as Cromwell answers it."""
from workflows.api.http import ApiError
from workflows.api.callrows import EXECUTION_STATUS
from workflows.api.selectors import run_get_for_api
from workflows.models import Call
from workflows.services import caching

PARAMS = ("workflowA", "callA", "indexA", "workflowB", "callB", "indexB")


def call_cache_diff(*, user, params) -> dict:
    """Return {callA, callB, hashDifferential} for two calls of the user's teams; 400 on bad parameters."""
    problems = [f"Unrecognized parameter '{key}'" for key in params if key not in PARAMS]
    problems += [f"Multiple values for '{key}'" for key in PARAMS if len(params.getlist(key)) > 1]
    problems += [f"missing {key} query parameter" for key in ("workflowA", "callA", "workflowB", "callB")
                 if not params.get(key)]
    indexes = {}
    for key in ("indexA", "indexB"):
        value = params.get(key, "-1") or "-1"
        try:
            indexes[key] = int(value)
        except ValueError:
            problems.append(f"{key} must be an integer, not '{value[:40]}'")
    if problems:
        raise ApiError(400, "Wrong parameters for call cache diff query:\n" + "\n".join(problems))
    a = _call(user, params["workflowA"], params["callA"], indexes["indexA"])
    b = _call(user, params["workflowB"], params["callB"], indexes["indexB"])
    hashes_a, hashes_b = a.cache_hashes or {}, b.cache_hashes or {}  # keys as Cromwell's: "input: String word"
    differential = [{"hashKey": key, "callA": hashes_a.get(key), "callB": hashes_b.get(key)}
                    for key in sorted(hashes_a.keys() | hashes_b.keys()) if hashes_a.get(key) != hashes_b.get(key)]
    return {"callA": _describe(a), "callB": _describe(b), "hashDifferential": differential}


def _call(user, run_id: str, fqn: str, index: int) -> Call:
    run = run_get_for_api(user=user, run_id=run_id)  # 400 malformed, 404 unknown or another team's
    call = Call.objects.filter(run=run, fqn=fqn[:500], shard_index=index).select_related("run__team") \
        .order_by("-attempt").first()
    if call is None:
        raise ApiError(404, f"Cannot find call {run.pk}:{fqn[:200]}:{index}")
    return call


def _describe(call: Call) -> dict:
    block = caching.metadata_block(mode=caching.run_mode(call.run, call.run.team), result=call.cache_result,
                                   hashes={}) or {"allowResultReuse": False}
    return {"executionStatus": EXECUTION_STATUS.get(call.status, call.status),
            "allowResultReuse": block["allowResultReuse"], "callFqn": call.fqn, "jobIndex": call.shard_index,
            "workflowId": str(call.run_id)}
