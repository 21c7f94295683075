"""Leases: what a worker holds (calls it claimed, a backend's next poll) lasts only while it lives.

The holder renews its lease from a background thread every few seconds. A worker that dies (SIGKILL,
out of memory, a lost host) stops renewing, and what it held is taken over seconds later instead of
after the submit timeout. Claim leases are rows in the database, whose clock decides when one lapses
(a Redis restart must not make a live dispatcher look dead); poll markers are short-lived cache keys.
"""
import contextlib
import logging
import math
import os
import socket
import threading
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import DateTimeField, ExpressionWrapper, Q, QuerySet
from django.db.models.functions import Now
from django.utils import timezone

from workflows.models import Call, Lease

log = logging.getLogger(__name__)

# A poll may start this late before the next tick takes it for lost and schedules another.
POLL_GRACE_SECONDS = 0.5
# A running poll's marker outlives a poller that died by at most this.
POLL_LEASE_SECONDS = 2


def claim_lease_seconds() -> float:
    """Return how long a claim outlives its worker's last renewal (renewed four times as often)."""
    return float(getattr(settings, "BATCHSITE_CLAIM_LEASE_SECONDS", 8))


def _in(seconds: float) -> ExpressionWrapper:
    return ExpressionWrapper(Now() + timedelta(seconds=seconds), output_field=DateTimeField())


def lease_owner(kind: str) -> str:
    """Return a new, unique owner name that says which process holds the lease."""
    return f"{kind}:{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:16]}"


def lease_take(*, owner: str) -> None:
    """Start the owner's lease (in the transaction that claims what it covers)."""
    Lease.objects.create(owner=owner, expires=_in(claim_lease_seconds()))


def lease_renew(*, owner: str) -> bool:
    """Extend the owner's lease; False if it had lapsed, which is for good: its claims may be taken over."""
    return bool(Lease.objects.filter(owner=owner, expires__gt=Now()).update(expires=_in(claim_lease_seconds())))


@contextlib.contextmanager
def lease_kept(*, owner: str):
    """Renew the owner's lease while the block runs, and end it when the block completes.

    A block that raised leaves its lease to lapse, as a crash does: a job whose submission went
    through though its reply was lost then has the lease's length to appear in the backend's
    listing before its claim is looked up there.
    """
    def renew():
        if not lease_renew(owner=owner):
            log.warning("lease %s lapsed: its claims may have been taken over", owner)

    with renewing(renew, every=claim_lease_seconds() / 4):
        yield
    Lease.objects.filter(owner=owner).delete()


def leases_expire() -> int:
    """Delete lapsed leases (their claims count as abandoned either way); return how many."""
    return Lease.objects.filter(expires__lte=Now()).delete()[0]


def abandoned_claims() -> QuerySet:
    """Return the calls claimed for submission by a worker whose lease lapsed.

    A claim without an owner (made before leases existed) is abandoned after the submit timeout.
    """
    live = Lease.objects.filter(expires__gt=Now()).values("owner")
    timeout = timedelta(seconds=getattr(settings, "BATCHSITE_SUBMIT_TIMEOUT", 120))
    return Call.objects.filter(status=Call.Status.SUBMITTING).filter(
        Q(claimed_by="", claimed__lt=timezone.now() - timeout) | (~Q(claimed_by="") & ~Q(claimed_by__in=live)))


@contextlib.contextmanager
def renewing(renew, *, every: float):
    """Call renew() every `every` seconds from a background thread while the block runs."""
    stop = threading.Event()

    def loop():
        try:
            while not stop.wait(every):
                try:
                    renew()
                except Exception:  # the database or Redis restarting: try again next time, reconnected
                    log.warning("could not renew a lease", exc_info=True)
                    connection.close()
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=loop, name="lease", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


# ---- the pending poll of a backend: one at a time, and never stalled by a dead worker ----

def _poll_key(name: str) -> str:
    return f"poll-pending:{name}"


def poll_mark(*, name: str, token: str, due_in: float) -> bool:
    """Mark a poll of the backend as scheduled; False if another is already scheduled or running.

    The marker lapses just after the poll is due: one whose message died with a worker holding it
    is scheduled again by the next tick.
    """
    return cache.add(_poll_key(name), token, timeout=math.ceil(due_in + POLL_GRACE_SECONDS))


@contextlib.contextmanager
def poll_held(*, name: str, token: str):
    """Yield True while this poll holds the backend's marker, False if another poll holds it.

    The marker is renewed while the poll runs and lapses within POLL_LEASE_SECONDS of a poller's death.
    """
    key = _poll_key(name)
    if cache.get(key) == token:
        cache.set(key, token, timeout=POLL_LEASE_SECONDS)
    elif not cache.add(key, token, timeout=POLL_LEASE_SECONDS):
        yield False
        return

    def renew():
        if cache.get(key) == token:
            cache.touch(key, POLL_LEASE_SECONDS)

    try:
        with renewing(renew, every=POLL_LEASE_SECONDS / 4):
            yield True
    finally:
        if cache.get(key) == token:
            cache.delete(key)
