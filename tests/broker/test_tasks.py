"""The Celery app's routing: each topic's messages land in that topic's queue only."""

from __future__ import annotations

from broker import tasks
from broker.settings import Settings


def test_every_topic_has_its_own_queue_exchange_and_routing_key() -> None:
    app = tasks.configure(Settings(broker_url="amqp://guest:guest@127.0.0.1:5672//", queue_prefix="hub-x"))
    routes = {
        topic: app.amqp.router.route({}, name, args=(), kwargs={})["queue"] for topic, name in tasks.TASKS.items()
    }
    assert {topic: q.name for topic, q in routes.items()} == {t: f"hub-x.{t}" for t in tasks.TASKS}
    bindings = [(q.exchange.name, q.routing_key) for q in app.amqp.queues.values()]
    assert len(set(bindings)) == len(bindings) == len(tasks.TASKS)
