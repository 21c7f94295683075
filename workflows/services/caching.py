"""Call caching, as Cromwell defines it: a call identical to one that succeeded reuses its results.

A call of a run that reads or writes the cache is created with cache_pending set; dispatch looks
such calls up in batches (lookup_team) before it claims slots, so a hit never takes a slot and
never becomes a job: its outputs are duplicated into its own call directory (or referenced) and it
is marked succeeded. Misses go on to dispatch with their hashes saved; when one succeeds,
entry_write records it. A hit never crosses a team's line: see _allowed_teams and _readable.
"""
import contextlib
import hashlib
import json
import logging
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from batchsite.config import get_config
from teams.models import Team
from workflows import engine
from workflows.backends import backend_for
from workflows.models import CacheEntry, Call, Run
from workflows.services.limits import host_reads
from workflows.services.versions import document_for

log = logging.getLogger(__name__)

BATCH = 1000  # calls looked up together: one query for their entries
LOOKUP_TIMEOUT = timedelta(minutes=5)  # a lookup claimed longer ago than this died with its worker
# Runtime attributes that change what a call produces (Cromwell hashes these; the rest are resources).
RESULT_ATTRIBUTES = ("docker", "continueOnReturnCode", "returnCodes", "failOnStderr")
OPTIONS = ("read_from_cache", "write_to_cache")
ENGINE_ERRORS = (engine.EvalError, engine.OutputError, engine.InputError, ValueError, OSError)


def options_check(options: dict) -> None:
    """Raise ValidationError naming a caching option that is not a boolean."""
    for name in OPTIONS:
        if name in options and not isinstance(options[name], bool):
            raise ValidationError({name: f"the {name} option must be true or false"})


def run_mode(run: Run, team: Team) -> tuple[bool, bool]:
    """Return (read, write): whether the run's calls may reuse results, and leave theirs for others."""
    if not (get_config().call_caching.enabled and team.call_caching):
        return False, False
    options = run.options or {}
    return options.get("read_from_cache", True) is not False, options.get("write_to_cache", True) is not False


def calls_pending(run: Run) -> bool:
    """Return whether the run's new calls wait for a cache lookup (it reads or writes the cache)."""
    return any(run_mode(run, run.team))


# ---- lookup -------------------------------------------------------------------------------

def lookup_team(*, team_id: int) -> int:
    """Look up the team's calls waiting for it, a batch at a time; return how many were hits."""
    hits = 0
    while batch := _claim_lookups(team_id):
        hits += _lookup(batch)
    return hits


def _claim_lookups(team_id: int) -> list[Call]:
    now = timezone.now()
    with transaction.atomic():
        pks = list(Call.objects.select_for_update(skip_locked=True)
                   .filter(team_id=team_id, status=Call.Status.QUEUED, cache_pending=True)
                   .filter(Q(claimed__isnull=True) | Q(claimed__lt=now - LOOKUP_TIMEOUT))
                   .order_by("pk").values_list("pk", flat=True)[:BATCH])
        Call.objects.filter(pk__in=pks).update(claimed=now)
    # Not the runs' saved engine states: hundreds of KiB each, and not needed here.
    return list(Call.objects.filter(pk__in=pks).select_related("run__version", "run__team")
                .defer("run__engine_state", "run__outputs"))


def _lookup(calls: list[Call]) -> int:
    # Where the backend's files are remote, calls are hashed and brought in concurrently (as poll
    # collects them); the database is read and written here, in this thread, only.
    threads = min(max(backend_for(name).collect_threads for name in {c.backend for c in calls}), len(calls))
    for version in {c.run.version_id: c.run.version for c in calls}.values():
        document_for(version)  # parsed here, once: the threads only read it
    with ThreadPoolExecutor(threads) if threads > 1 else contextlib.nullcontext() as pool:
        return _lookup_in(calls, pool.map if pool else map)


def _identify_or_miss(call: Call) -> tuple[dict, str]:
    try:
        return _identify(call)
    except ENGINE_ERRORS as exc:  # dispatch evaluates it again and fails it, saying why
        return {}, f"Cache Miss: could not evaluate the call ({exc})"


def _lookup_in(calls: list[Call], each) -> int:
    identities = dict(zip([c.pk for c in calls], each(_identify_or_miss, calls)))
    digests = {}  # one question per backend for the batch's images
    for name in {call.backend for call in calls}:
        named = {c.runtime.get("docker") for c in calls if c.backend == name and c.runtime.get("docker")}
        digests[name] = backend_for(name).image_digests(sorted(named)) if named else {}
    hashes: dict[int, str] = {}
    for call in calls:
        components, why = identities[call.pk]
        image = call.runtime.get("docker")
        if components and image:
            digest = digests[call.backend].get(image)
            if digest is None:
                components, why = {}, (f"Cache Miss: the docker image {image} could not be resolved to a digest, "
                                       "so call caching is off for this call (Cromwell's rule)")
            else:
                components["runtime attribute: docker"] = _md5(digest)
        identities[call.pk] = (components, why)
        if components:
            hashes[call.pk] = hashlib.sha256(json.dumps(components, sort_keys=True).encode()).hexdigest()
    entries = _entries(calls, hashes)
    gone: list[int] = []  # entries whose files were found missing

    def reuse(call: Call):
        if call.pk in hashes and run_mode(call.run, call.run.team)[0]:
            return _reuse(call, entries.get(hashes[call.pk], []), gone)
        return None
    reused = dict(zip([c.pk for c in calls], each(reuse, calls)))  # files are brought in outside transactions
    if gone and get_config().call_caching.invalidate_bad_cache_results:
        CacheEntry.objects.filter(pk__in=gone).update(valid=False)
    found, misses = [], []
    for call in calls:
        components, why = identities[call.pk]
        write = run_mode(call.run, call.run.team)[1]
        reuse = reused[call.pk]
        if reuse is not None:
            found.append((call, *reuse, components, hashes[call.pk] if write else ""))
        else:
            # With read_from_cache false this is Cromwell's WriteCache mode: a miss, as it says.
            misses.append((call, components, why if call.pk not in hashes else "Cache Miss",
                           hashes.get(call.pk, "") if write else ""))
    with transaction.atomic():  # one commit for the batch
        hits = _mark_hits(found)
        for call, components, why, write_hash in misses:
            Call.objects.filter(pk=call.pk, cache_pending=True).update(
                cache_pending=False, claimed=None, cache_hashes=components, cache_result=why[:500],
                cache_hash=write_hash)
    if hits:
        _advance({c.run_id for c in calls})
    return hits


def _identify(call: Call) -> tuple[dict, str]:
    """Evaluate the call and return (Cromwell's hash names -> values, ""), the docker image still by name."""
    doc = document_for(call.run.version)
    backend = backend_for(call.backend)
    with backend.workspace(call.call_dir) as workspace:
        prepared = engine.prepare(doc, call.task, call.inputs, work_dir=workspace.work_dir,
                                  map_path=workspace.job_path, localize=workspace.localize,
                                  readable=host_reads(call.run, workspace.work_dir))
        files = engine.input_files(doc, call.task, prepared.inputs)
        paths = sorted({p for found in files.values() for p in found})
        found = backend.file_hashes(paths)
        job_paths = {p: workspace.job_path(p) for p in paths}
    call.command, call.runtime, call.prepared_inputs = prepared.command, prepared.runtime, prepared.inputs
    missing = [p for p in paths if found.get(p) is None]
    if missing:
        return {}, f"Cache Miss: the input {missing[0]} could not be hashed"
    # Paths name the run they lie in: the command is hashed with each file by its content instead.
    command = prepared.command
    for path in sorted(paths, key=len, reverse=True):
        command = command.replace(job_paths[path], f"<{found[path]}>")
    input_types, output_decls = engine.declarations(doc, call.task)
    components = {
        "command template": _md5(command),
        "backend name": _md5(call.backend),
        "input count": _md5(str(len(prepared.inputs))),
        "output count": _md5(str(len(output_decls))),
    }
    for name, value in sorted(prepared.inputs.items()):
        text = json.dumps(value, sort_keys=True)
        for path in sorted(files.get(name, []), key=len, reverse=True):
            text = text.replace(json.dumps(path)[1:-1], found[path])
        components[f"input: {input_types.get(name, '?')} {name}"] = _md5(text)
    for name, text in output_decls.items():
        components[f"output expression: {text.split(' = ')[0]} {name}"] = _md5(text)
    for key in RESULT_ATTRIBUTES:
        if key in prepared.runtime and key != "docker":
            components[f"runtime attribute: {key}"] = _md5(json.dumps(prepared.runtime[key], sort_keys=True))
    return components, ""


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest().upper()  # Cromwell shows upper-case MD5s


def _entries(calls: list[Call], hashes: dict[int, str]) -> dict[str, list[CacheEntry]]:
    """Return {hash: entries a call of this batch may reuse, newest first}: one query for the batch."""
    if not hashes:
        return {}
    teams = set()
    for call in calls:
        teams |= _allowed_teams(call.run.team)
    query = CacheEntry.objects.filter(hash__in=set(hashes.values()), team_id__in=teams, valid=True)
    max_age = get_config().call_caching.max_result_age_days
    if max_age:
        query = query.filter(created__gte=timezone.now() - timedelta(days=max_age))
    found = defaultdict(list)
    for entry in query.select_related("call__run__version").defer(
            "call__run__engine_state", "call__run__outputs", "call__inputs", "call__prepared_inputs",
            "call__command").order_by("-created"):
        found[entry.hash].append(entry)
        document_for(entry.call.run.version)  # parsed here, once
    return found


def _allowed_teams(team: Team) -> set[int]:
    """Return the teams whose entries the team's calls may look at: its own, and its sharing group's."""
    if not (team.cache_sharing_opt_in and team.cache_sharing_group):
        return {team.pk}
    return {team.pk, *Team.objects.filter(cache_sharing_group=team.cache_sharing_group, cache_sharing_opt_in=True,
                                          call_caching=True).values_list("pk", flat=True)}


def _readable(team: Team, paths: list[str]) -> bool:
    """Return whether the team's jobs may read every path (another team's results)."""
    prefixes = [p if p.endswith("/") else p + "/" for p in team.cache_readable_prefixes or [] if isinstance(p, str) and p]
    return bool(paths) and all(any(path.startswith(prefix) for prefix in prefixes) for path in paths)


def _reuse(call: Call, entries: list[CacheEntry], gone: list[int]) -> tuple[CacheEntry, dict] | None:
    """Return (entry, outputs in the call's directory) of the first entry whose files can be brought in;
    add to gone the entries whose files are missing. Reads no database (see _entries)."""
    backend = backend_for(call.backend)
    team = call.run.team
    for entry in entries:
        if entry.backend != call.backend or entry.call_id == call.pk:
            continue
        doc = document_for(entry.call.run.version)
        try:
            paths = engine.output_files(doc, entry.call.task, entry.outputs)
        except ENGINE_ERRORS:
            continue
        if entry.team_id != call.team_id and not (
                team.cache_sharing_opt_in and _readable(team, [entry.call_dir + "/", *paths])):
            continue  # whatever the hashes say: this run may not read those files
        try:
            moved = backend.duplicate(paths, from_dir=entry.call_dir, into_dir=call.call_dir)
        except FileNotFoundError as exc:
            log.info("cache entry %s of call %s is gone: %s", entry.pk, entry.call_id, exc)
            gone.append(entry.pk)
            continue
        return entry, engine.map_output_files(doc, entry.call.task, entry.outputs, lambda p: moved.get(p, p))
    return None


def _mark_hits(found: list[tuple]) -> int:
    """Mark the calls succeeded with the outputs they reused; write their own entries; return how many."""
    now, marked = timezone.now(), []
    for call, entry, outputs, components, write_hash in found:
        source = entry.call
        if Call.objects.filter(pk=call.pk, status=Call.Status.QUEUED, cache_pending=True).update(
                status=Call.Status.SUCCEEDED, outputs=outputs, return_code=entry.return_code, cache_pending=False,
                claimed=None, cached_from=source, cache_hashes=components, cache_hash=write_hash,
                cache_result=f"Cache Hit: {entry.run_id}:{source.fqn}:{source.shard_index}"[:500],
                command=call.command, runtime=call.runtime, prepared_inputs=call.prepared_inputs,
                started=now, ended=now):
            marked.append(call)
            if write_hash:
                call.cache_hash, call.outputs, call.return_code = write_hash, outputs, entry.return_code
    _entries_write([c for c in marked if c.cache_hash])
    return len(marked)


def _advance(run_ids) -> None:
    from workflows.tasks import run_advance_task

    for run_id in run_ids:
        run_advance_task.delay(str(run_id))


# ---- what the user sees -------------------------------------------------------------------

MODES = {(True, True): "ReadAndWriteCache", (True, False): "ReadCache", (False, True): "WriteCache",
         (False, False): "CallCachingOff"}


def metadata_block(*, mode: tuple[bool, bool], result: str, hashes: dict) -> dict | None:
    """Return a call's callCaching block of Cromwell's metadata, or None where caching was off."""
    if mode == (False, False) and not result:
        return None
    off = result.startswith("Cache Miss: ")  # this call could not be hashed: caching is off for it alone
    nested: dict = {}
    for key, value in (hashes or {}).items():
        kind, _, name = key.partition(": ")
        if name:
            nested.setdefault(kind, {})[name] = value
        else:
            nested[kind] = value
    block = {"allowResultReuse": mode[1] and not off,
             "effectiveCallCachingMode": "CallCachingOff" if off else MODES[mode],
             "hit": result.startswith("Cache Hit"), "result": result or "Cache Miss"}
    if nested:
        block["hashes"] = nested
    return block


# ---- writing and invalidating entries -------------------------------------------------------

def entry_write(*, call: Call, outputs: dict, return_code: int | None) -> None:
    """Record a call that just succeeded for later identical calls (if its run writes to the cache)."""
    call.outputs, call.return_code = outputs, return_code
    _entries_write([call] if call.cache_hash else [])


def entries_write(*, calls: list[Call], outputs: dict[int, tuple[dict, int | None]]) -> None:
    """Record calls that just succeeded ({pk: (outputs, return code)}) as entry_write does, in one statement."""
    for call in calls:
        call.outputs, call.return_code = outputs[call.pk]
    _entries_write([call for call in calls if call.cache_hash])


def _entries_write(calls: list[Call]) -> None:
    CacheEntry.objects.bulk_create(
        [CacheEntry(call_id=c.pk, hash=c.cache_hash, team_id=c.team_id, run_id=c.run_id, backend=c.backend,
                    call_dir=c.call_dir, outputs=c.outputs or {}, return_code=c.return_code) for c in calls],
        ignore_conflicts=True)


def entries_forget(*, run_ids) -> int:
    """Delete the cache entries of runs whose call directories were deleted; return how many."""
    return CacheEntry.objects.filter(run_id__in=list(run_ids)).delete()[0]
