"""Cromwell's engine status (/engine/v1/status): the database, Redis and the Celery workers, each ok or not."""


def engine_status() -> dict:
    """Return Cromwell's engine status: each subsystem (database, Redis, workers) with ok and messages."""
    from celery import current_app
    from django.conf import settings
    from django.db import DatabaseError, connection

    systems = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        systems["Database"] = {"ok": True}
    except DatabaseError as exc:
        systems["Database"] = {"ok": False, "messages": [f"the database does not answer: {exc}"]}
    if settings.REDIS_URL:
        import redis

        try:
            redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1).ping()
            systems["Redis"] = {"ok": True}
        except redis.RedisError as exc:
            systems["Redis"] = {"ok": False, "messages": [f"Redis does not answer: {exc}"]}
    else:
        systems["Redis"] = {"ok": True, "messages": ["not configured: the queue is kept in files under var/"]}
    try:
        replies = current_app.control.ping(timeout=1.0) or []
    except Exception as exc:  # the broker's own errors differ by transport
        systems["Workers"] = {"ok": False, "messages": [f"could not ask the workers: {exc}"]}
    else:
        systems["Workers"] = ({"ok": True, "messages": [f"{len(replies)} worker(s) answered"]} if replies
                              else {"ok": False, "messages": ["no Celery worker answered within 1 s"]})
    return systems
