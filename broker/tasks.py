"""Celery: the app, its settings from RELIABILITY-NOTES.md, and thin tasks over plain functions."""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu.entity import Exchange, Queue

from broker import dispatch, follow_ons, webhook
from broker.hub import get_hub
from broker.outbox import DELIVER, FOLLOW_ON, WEBHOOK
from broker.settings import Settings

celery_app = Celery("tawasul_hub")
"""Configured by `configure`; creating it opens no connection."""

TASKS = {DELIVER: "hub.deliver", FOLLOW_ON: "hub.follow_on", WEBHOOK: "hub.webhook"}


def queue_name(settings: Settings, topic: str) -> str:
    """The broker queue of a topic, under this hub's prefix."""
    return f"{settings.queue_prefix}.{topic}"


def configure(settings: Settings) -> Celery:
    """Point the app at the configured broker with the settings that keep work from being lost."""
    amqp = settings.broker_url.startswith(("amqp", "pyamqp"))
    # each queue gets its own exchange: with Celery's default exchange every queue would be bound
    # under the same routing key and each message would be copied into all of them
    names = [queue_name(settings, topic) for topic in TASKS]
    queues = [Queue(name, Exchange(name, type="direct"), routing_key=name, durable=True) for name in names]
    # configured again in one process (tests, benchmarks): Celery caches queues, routes and
    # connections on first use, so forget those of the previous settings
    celery_app.__dict__.pop("amqp", None)
    celery_app._pool = None
    celery_app.conf.update(
        broker_url=settings.broker_url,
        broker_connection_retry_on_startup=True,
        # the in-process broker polls its queues: its default second would add up to a second per hop
        broker_transport_options={"confirm_publish": True} if amqp else {"polling_interval": 0.05},
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        task_ignore_result=True,
        result_backend=None,
        task_serializer="json",
        accept_content=["json"],
        task_queues=queues,
        task_default_queue=queue_name(settings, DELIVER),
        task_routes={name: {"queue": queue_name(settings, topic)} for topic, name in TASKS.items()},
        task_create_missing_queues=False,
        # a task's unacked time must stay well under RabbitMQ's 30-minute consumer_timeout
        task_soft_time_limit=max(60, int(settings.lease_seconds * 4)),
        task_time_limit=max(90, int(settings.lease_seconds * 5)),
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        worker_enable_remote_control=amqp,
        # remote control (`celery inspect`, Flower) and events on exchanges of this hub's own
        control_exchange=f"{settings.queue_prefix}.control",
        event_exchange=f"{settings.queue_prefix}.events",
    )
    return celery_app


def publish(topic: str, claims: list[tuple[str, str]]) -> None:
    """Send one broker message for the relay (a short argsrepr: big reprs cost the producer)."""
    celery_app.send_task(TASKS[topic], args=[claims], argsrepr=f"[{len(claims)} {topic}]")


@celery_app.task(name="hub.deliver", ignore_result=True)
def deliver_task(claims: list[Any]) -> None:
    """Deliver a batch of handoffs (see broker.dispatch)."""
    dispatch.deliver(get_hub(), [(ref, token) for ref, token in claims])


@celery_app.task(name="hub.follow_on", ignore_result=True)
def follow_on_task(claims: list[Any]) -> None:
    """Send a batch of follow-on messages (see broker.follow_ons)."""
    follow_ons.send(get_hub(), [(ref, token) for ref, token in claims])


@celery_app.task(name="hub.webhook", ignore_result=True)
def webhook_task(claims: list[Any]) -> None:
    """Send the next webhook batch to the national system (see broker.webhook)."""
    for _ref, token in claims:
        webhook.send_webhook(get_hub(), token)
