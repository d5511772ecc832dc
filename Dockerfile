# One image for every WeldDesk process: web (Daphne), Celery worker and beat; the command
# chooses (deploy/compose/compose.yaml, deploy/kubernetes/). Slim, non-root, static files
# collected at build so the web processes serve them (whitenoise) without a writable disk.
# servicedesk/tests/test_deploy.py checks what this file promises, and hadolint the file.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    WELDDESK_VAR_DIR=/srv/welddesk/var \
    STATIC_ROOT=/srv/welddesk/static

# gettext: compiled translations are committed; libpq comes with psycopg[binary].
RUN groupadd --system --gid 10001 welddesk \
    && useradd --system --uid 10001 --gid welddesk --home-dir /srv/welddesk --shell /usr/sbin/nologin welddesk

WORKDIR /srv/welddesk/app
COPY requirements.txt .
RUN pip install --requirement requirements.txt

COPY --chown=root:root . .
# collectstatic needs settings that load: throwaway values that exist only in this layer's
# command, never in the image's environment (secrets come from the environment at run time).
RUN mkdir -p /srv/welddesk/var /srv/welddesk/static \
    && DEBUG=0 WELDDESK_STARTUP_CHECKS=0 SECRET_KEY=collectstatic-only \
       FIELD_ENCRYPTION_KEYS=$(python -c "import base64,os;print(base64.urlsafe_b64encode(os.urandom(32)).decode())") \
       BLIND_INDEX_KEY=collectstatic-only-blind-index SITE_URL=https://build.invalid CLAMD_ADDRESS=off \
       python manage.py collectstatic --noinput --verbosity 0 \
    && chown -R welddesk:welddesk /srv/welddesk/var

# The welddesk user by number: Kubernetes' runAsNonRoot can only verify a numeric user.
USER 10001:10001
EXPOSE 8000
# The web process; workers and beat override the command.
CMD ["daphne", "-v", "0", "-b", "0.0.0.0", "-p", "8000", "servicedesk.asgi:application"]
