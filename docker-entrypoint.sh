#!/bin/bash
# One image, three roles: web (migrates first), worker, beat; anything else runs as given.
set -euo pipefail
: "${DJANGO_SECRET_KEY:?set DJANGO_SECRET_KEY}"
case "${1:-web}" in
  web)
    python manage.py migrate --noinput
    exec gunicorn batchsite.wsgi --bind "0.0.0.0:${PORT}" --workers "${WEB_WORKERS:-3}" --threads 4 --access-logfile - ;;
  worker)
    exec celery -A batchsite worker --loglevel INFO --concurrency "${WORKER_CONCURRENCY:-4}" ;;
  beat)
    exec celery -A batchsite beat --loglevel INFO ;;
  *)
    exec "$@" ;;
esac
