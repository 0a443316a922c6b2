"""The design most teams would write first, for bench/throughput.py to measure next to the hub.

A minimal FastAPI endpoint with the hub's uvicorn settings that validates the same case model
(`schemas.CaseIn`), checks the same API key, inserts the case in one transaction and calls Celery
`apply_async` with publisher confirms; a Celery worker with the hub's worker settings (threads,
late acks, prefetch 1) marks the case delivered in one transaction. No outbox, no handoffs, no
events, no deadlines, no isolation: what it loses on a crash between the commit and the publish is
exactly what the hub's outbox is for.

    python bench/naive_peer.py api --port P --database-url URL --broker-url URL --queue Q --api-key K
    python bench/naive_peer.py worker --database-url URL --broker-url URL --queue Q [--concurrency 4]
"""

from __future__ import annotations

import argparse
import hmac
import os
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, Engine, MetaData, String, Table, create_engine, update
from sqlalchemy.dialects.postgresql import JSONB

from schemas import CaseIn

TASK = "peer.deliver"

meta = MetaData()
peer_cases = Table(
    "peer_cases",
    meta,
    Column("id", String(40), primary_key=True),
    Column("reference", String(120), nullable=False, unique=True),
    Column("kind", String(20), nullable=False),
    Column("category", String(80), nullable=False),
    Column("state", String(20), nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True)),
)


def create_table(engine: Engine) -> None:
    meta.create_all(engine)


def celery_app(broker_url: str, queue: str) -> Any:
    """Celery with the hub's reliability settings (confirms, late acks, prefetch 1)."""
    from celery import Celery
    from kombu.entity import Exchange, Queue

    app = Celery("naive_peer", broker=broker_url)
    app.conf.update(
        broker_transport_options={"confirm_publish": True},
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        task_queues=[Queue(queue, Exchange(queue, type="direct"), routing_key=queue, durable=True)],
        task_default_queue=queue,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )
    return app


def serve(port: int, database_url: str, broker_url: str, queue: str, api_key: str) -> None:
    import uuid

    import uvicorn
    from fastapi import FastAPI, Header, HTTPException, status
    from sqlalchemy import insert

    engine = create_engine(database_url, pool_size=10, max_overflow=20)
    celery = celery_app(broker_url, queue)
    app = FastAPI()

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/cases", status_code=status.HTTP_201_CREATED)
    def submit(case: CaseIn, x_api_key: str = Header("")) -> dict[str, str]:
        if not hmac.compare_digest(x_api_key.encode(), api_key.encode()):
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong API key")
        case_id = f"c_{uuid.uuid4().hex}"
        with engine.begin() as conn:
            conn.execute(
                insert(peer_cases).values(
                    id=case_id,
                    reference=case.reference,
                    kind=case.kind.value,
                    category=case.category,
                    state="received",
                    payload=case.model_dump(mode="json"),
                    created_at=datetime.now(UTC),
                )
            )
        celery.send_task(TASK, args=[case_id])  # apply_async by name, confirmed by the broker
        return {"id": case_id, "state": "received"}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def work(database_url: str, broker_url: str, queue: str, concurrency: int) -> None:
    engine = create_engine(database_url, pool_size=10, max_overflow=20)
    app = celery_app(broker_url, queue)

    @app.task(name=TASK)
    def deliver(case_id: str) -> None:
        with engine.begin() as conn:
            conn.execute(
                update(peer_cases)
                .where(peer_cases.c.id == case_id)
                .values(state="delivered", delivered_at=datetime.now(UTC))
            )

    app.worker_main(
        [
            "worker",
            f"--hostname=naive-peer-{os.getpid()}@%h",
            "--pool=threads",
            f"--concurrency={concurrency}",
            "--without-mingle",
            "--without-gossip",
            "--loglevel=WARNING",
            f"--queues={queue}",
        ]
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("role", choices=["api", "worker"])
    p.add_argument("--database-url", required=True)
    p.add_argument("--broker-url", required=True)
    p.add_argument("--queue", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--api-key", default="")
    p.add_argument("--concurrency", type=int, default=4)
    a = p.parse_args()
    if a.role == "api":
        serve(a.port, a.database_url, a.broker_url, a.queue, a.api_key)
    else:
        work(a.database_url, a.broker_url, a.queue, a.concurrency)


if __name__ == "__main__":
    main()
