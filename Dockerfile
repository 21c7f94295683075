FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    BATCHSITE_VAR_DIR=/var/lib/batchsite PORT=8000

RUN apt-get update \
 && apt-get install -y --no-install-recommends bash util-linux bubblewrap \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /app batchsite \
 && mkdir -p /var/lib/batchsite && chown batchsite /var/lib/batchsite

WORKDIR /app
COPY requirements.txt constraints.txt ./
RUN pip install --no-cache-dir -r requirements.txt -c constraints.txt
COPY --chown=batchsite . .
RUN DJANGO_SECRET_KEY=build-only python manage.py collectstatic --noinput

USER batchsite
EXPOSE 8000
ENTRYPOINT ["/app/docker-entrypoint.sh"]
CMD ["web"]
