"""The hub's Celery app configured from HUB_* settings, for Celery's own tools.

    celery -A broker.celery_app inspect ping
    celery -A broker.celery_app inspect active_queues
    celery -A broker.celery_app flower

Remote control and events use exchanges named after HUB_QUEUE_PREFIX (broker.tasks.configure), so
these tools see this hub's workers only, even on a broker shared with other hubs or Celery apps.
"""

from __future__ import annotations

from broker import tasks
from broker.settings import Settings

app = tasks.configure(Settings())
