"""Settings of the benchmark run and its server: WeldDesk's own, plus the floor app and route.

Only names are changed that keep a benchmark's tasks, events and cache keys apart from a real
desk that shares the Redis server, and outgoing mail is dropped (the scan would otherwise
print one message per escalated recipient when Celery runs eagerly).
"""

from servicedesk.env import env_str
from servicedesk.settings import *  # noqa: F403
from servicedesk.settings import CACHES, CHANNEL_LAYERS, INSTALLED_APPS, REDIS_URL

INSTALLED_APPS = [*INSTALLED_APPS, "bench.floor"]
ROOT_URLCONF = "bench.urls"

CELERY_TASK_DEFAULT_QUEUE = "welddesk-bench"
if REDIS_URL:
    CACHES["default"]["KEY_PREFIX"] = "wd-bench"
    # Pub/sub channels ignore the database number: a prefix of its own per bench run's owner.
    prefix = env_str("CHANNEL_LAYER_PREFIX", "wd-bench")
    CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = f"{prefix}:asgi"
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.dummy.EmailBackend")
# The chat benchmark's clients talk plain ws:// over loopback to Daphne (no TLS proxy in front).
WEBSOCKET_REQUIRE_TLS = False
