"""Benchmark: cases through intake → routed → delivered on PostgreSQL + RabbitMQ, next to raw Celery.

In one run, on the same broker (a queue prefix of its own) and a scratch PostgreSQL database
(created and dropped here):

1. raw: N no-op Celery tasks published one by one with publisher confirms, consumed by a worker
   process with the hub's worker settings (threads, late acks, prefetch 1);
2. hub, batch intake: N cases POSTed to `/v1/cases/batch` of a `tawasul-hub api` process (50 a
   request, one transaction each), relayed and delivered by `tawasul-hub scheduler` and
   `tawasul-hub worker` processes;
3. hub, HTTP intake: N cases POSTed one per request to a `tawasul-hub api` process by several
   client threads;
4. paced: cases POSTed over HTTP at a fixed rate (50/s by default), for latency.

Agencies use the manual adapter (delivery is cheap), so the figures measure the hub, not an agency;
`--rest` makes them REST agencies played by the bundled simulator (adapters/testing/rest_agency/)
in this process, each acknowledging every case through the hub's agency API as soon as it has it;
a case's trip then ends at its `message.acknowledged` event (delivered and acknowledged). Latency is
from the case's `created_at` (intake commit) to that event (`handoff.delivered` for manual
agencies). Settings come from the environment as in production, so a change can be measured
without editing code: HUB_AGENCY_MAX_IN_FLIGHT (2 by default: at most 16 REST deliveries in flight
over 8 agencies; manual agencies have no limit), HUB_TASK_BATCH, HUB_RELAY_INTERVAL.

    .venv/bin/python bench/throughput.py [--cases 2000] [--rate 50] [--paced-seconds 20] [--workers 1]
    HUB_AGENCY_MAX_IN_FLIGHT=200 .venv/bin/python bench/throughput.py --workers 2 [--rest]

Each process's log and the generated config stay in var/bench-<prefix>/.

Goal (issue 2): hub/raw >= 1.0 and p99 < 250 ms at 50 cases/s.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import yaml
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.exc import OperationalError

from adapters.testing.rest_agency import Simulator, start_simulator
from broker import agency_keys
from broker.hub import Hub
from broker.logging import configure_logging
from broker.settings import PROJECT_ROOT, Settings
from broker.store.migrate import upgrade
from broker.store.tables import cases, events, handoffs, metadata

HUB = str(Path(sys.executable).parent / "tawasul-hub")
API_KEY = "bench-national-key-0123456789"
AGENCIES = 8
RAW_TASK = "bench.noop"


# ---------------------------------------------------------------- scenario: config and cases


def write_config(directory: Path, rest_url: str | None = None) -> list[str]:
    """Agencies (manual, or REST ones at `rest_url`), one category each; returns the categories."""
    agencies: list[dict[str, Any]] = [
        {"id": "central-office", "name_ar": "المكتب المركزي", "name_en": "Central office", "status": "onboarded"}
    ]
    agencies[0]["operator"] = True
    categories = []
    for n in range(AGENCIES):
        agency: dict[str, Any] = {"id": f"agency-{n}", "name_ar": f"جهة {n}", "name_en": f"Agency {n}"}
        if rest_url is None:
            agency["status"] = "joining"
        else:
            agency["status"] = "onboarded"
            agency["adapter"] = {
                "kind": "rest",
                "base_url": f"{rest_url}/agency-{n}",
                "signing_secret_env": "BENCH_SIGNING_SECRET",
                "ticket": "ticket_id",
            }
        agencies.append(agency)
        categories.append(
            {"id": f"topic-{n}", "name_ar": f"موضوع {n}", "name_en": f"Topic {n}", "agencies": [f"agency-{n}"]}
        )
    directory.mkdir(parents=True, exist_ok=True)
    doc = {"agencies": agencies, "categories": categories}
    (directory / "agencies.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return [c["id"] for c in categories]


def case_bodies(n: int, categories: list[str], tag: str) -> list[dict[str, Any]]:
    """N Arabic cases, as the national system sends them, spread over the categories."""
    samples = [
        json.loads(line) for line in (PROJECT_ROOT / "config/samples/cases.jsonl").read_text("utf-8").splitlines()
    ]
    bodies = []
    for i in range(n):
        body = dict(samples[i % len(samples)])
        # no attachments: REST agencies would refuse some sample types, and fetching is not measured here
        body.update(
            reference=f"TW-BENCH-{tag}-{i:06d}", category=categories[i % len(categories)], agency=None, attachments=[]
        )
        bodies.append(body)
    return bodies


# ---------------------------------------------------------------- services and processes


@contextmanager
def scratch_database(admin_url: str) -> Iterator[str]:
    """A PostgreSQL database of this run's own, migrated; dropped at the end."""
    name = f"hub_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        engine = create_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class Processes:
    """Child processes of this run; all are stopped at the end."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.children: list[subprocess.Popen[bytes]] = []

    def start(self, *argv: str, name: str) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.log").open("ab") as out:
            p = subprocess.Popen(list(argv), env=self.env, stdout=out, stderr=subprocess.STDOUT)
        self.children.append(p)
        return p

    def stop_all(self) -> None:
        for p in self.children:
            p.terminate()
        for p in self.children:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()


def wait_for(check: Callable[[], object], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise SystemExit(f"timed out after {timeout} s waiting for {what}")


def delete_queues(broker_url: str, names: list[str]) -> None:
    from kombu import Connection

    with Connection(broker_url, connect_timeout=5) as conn:
        channel = conn.channel()
        for name in names:
            channel.queue_delete(name)
            channel.exchange_delete(name)


# ---------------------------------------------------------------- raw Celery baseline


def raw_app(broker_url: str, queue: str) -> Any:
    """A Celery app with the hub's reliability settings and one no-op task."""
    from celery import Celery
    from kombu import Exchange, Queue

    app = Celery("bench_raw", broker=broker_url)
    app.conf.update(
        broker_transport_options={"confirm_publish": True},
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_queues=[Queue(queue, Exchange(queue, type="direct"), routing_key=queue, durable=True)],
        task_default_queue=queue,
        worker_hijack_root_logger=False,
    )
    return app


def raw_worker(broker_url: str, queue: str, expect: int, done_file: str, concurrency: int) -> None:
    """Consume `expect` no-op tasks, then write their latencies (publish → run) to `done_file`."""
    app = raw_app(broker_url, queue)
    lock = threading.Lock()
    latencies: list[float] = []

    @app.task(name=RAW_TASK)
    def noop(sent: float) -> None:
        with lock:
            latencies.append(time.time() - sent)
            if len(latencies) == expect:
                partial = Path(f"{done_file}.part")  # written whole, then renamed: never read half-written
                partial.write_text(json.dumps({"finished": time.time(), "latencies": latencies}))
                partial.rename(done_file)

    app.worker_main(
        [
            "worker",
            f"--hostname=bench-raw-{os.getpid()}@%h",
            "--pool=threads",
            f"--concurrency={concurrency}",
            "--without-mingle",
            "--without-gossip",
            "--loglevel=WARNING",
            f"--queues={queue}",
        ]
    )


@dataclass
class Figures:
    label: str
    count: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    def line(self) -> str:
        p50, p99 = percentile(self.latencies, 50), percentile(self.latencies, 99)
        return (
            f"{self.label:<48} {self.count:>6} in {self.seconds:6.2f} s = {self.rate:7.1f}/s"
            f"   p50 {p50 * 1000:7.1f} ms   p99 {p99 * 1000:7.1f} ms"
        )


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def run_raw(procs: Processes, broker_url: str, prefix: str, n: int, concurrency: int, work: Path) -> Figures:
    queue = f"{prefix}.raw"
    done = work / "raw-done.json"
    procs.start(
        sys.executable,
        __file__,
        "raw-worker",
        "--broker-url",
        broker_url,
        "--queue",
        queue,
        "--expect",
        str(n),
        "--done-file",
        str(done),
        "--concurrency",
        str(concurrency),
        name="raw-worker",
    )
    app = raw_app(broker_url, queue)
    with app.connection_for_write() as conn:  # declare the queue before the clock starts
        app.amqp.queues[queue].bind(conn).declare()
    time.sleep(2)  # let the worker start consuming
    t0 = time.time()
    with app.producer_or_acquire() as producer:
        for _ in range(n):
            app.send_task(RAW_TASK, args=[time.time()], producer=producer, argsrepr="[t]")
    wait_for(done.exists, "the raw worker to run every task", timeout=600)
    result = json.loads(done.read_text())
    return Figures("raw Celery no-op tasks (confirmed publish)", n, result["finished"] - t0, result["latencies"])


# ---------------------------------------------------------------- the hub


MILESTONE = {"manual": "handoff.delivered", "rest": "message.acknowledged"}
"""Where a case's trip ends: delivered (manual agencies), or acknowledged by the agency (REST)."""
milestone = MILESTONE["manual"]


def reached_count(engine: Engine) -> int:
    """Handoffs that reached the milestone."""
    with engine.connect() as conn:
        query = select(func.count(func.distinct(events.c.handoff_id))).where(events.c.type == milestone)
        return int(conn.execute(query).scalar_one())


def failed_count(engine: Engine) -> int:
    with engine.connect() as conn:
        query = select(func.count()).select_from(handoffs).where(handoffs.c.state == "failed")
        return int(conn.execute(query).scalar_one())


def latencies(engine: Engine) -> list[float]:
    """Intake commit → the milestone, per case."""
    q = (
        select(cases.c.created_at, events.c.created_at.label("delivered_at"))
        .join(events, events.c.case_id == cases.c.id)
        .where(events.c.type == milestone)
    )
    with engine.connect() as conn:
        return [(r.delivered_at - r.created_at).total_seconds() for r in conn.execute(q)]


def last_delivery(engine: Engine) -> float:
    with engine.connect() as conn:
        at = conn.execute(select(func.max(events.c.created_at)).where(events.c.type == milestone)).scalar_one()
    return float(at.timestamp())


def empty(engine: Engine) -> None:
    """Start a run on empty tables (a late agency callback of the last run may hold a lock: retry)."""
    kept = {"agency_keys"}  # the simulated agencies keep their keys from run to run
    tables = ", ".join(t.name for t in metadata.sorted_tables if t.name not in kept)
    for attempt in range(5):
        try:
            with engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            return
        except OperationalError:
            time.sleep(1 + attempt)
    raise SystemExit("could not empty the tables between runs")


def finish(engine: Engine, label: str, n: int, t0: float) -> Figures:
    wait_for(lambda: reached_count(engine) + failed_count(engine) >= n, f"{n} handoffs: {milestone}", timeout=600)
    if (failed := failed_count(engine)) > 0:
        print(f"    ({failed} handoffs FAILED; the figures count only the others)")
    return Figures(label, n, last_delivery(engine) - t0, latencies(engine))


def run_batch_intake(hub: Hub, base: str, bodies: list[dict[str, Any]], batch: int, clients: int) -> Figures:
    engine = hub.engine
    empty(engine)
    chunks = [bodies[i : i + batch] for i in range(0, len(bodies), batch)]
    local = threading.local()

    def send(chunk: list[dict[str, Any]]) -> None:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        r = local.session.post(
            f"{base}/v1/cases/batch", json={"cases": chunk}, headers={"X-API-Key": API_KEY}, timeout=60
        )
        if r.status_code != 200:
            raise SystemExit(f"batch intake answered {r.status_code}: {r.text[:300]}")

    t0 = time.time()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(send, chunks))
    intake = time.time() - t0
    figures = finish(engine, f"hub, HTTP batch intake ({batch} cases/request, {clients} clients)", len(bodies), t0)
    print(f"    (intake alone: {len(bodies) / intake:.0f} cases/s)")
    return figures


def post(session: requests.Session, base: str, body: dict[str, Any]) -> None:
    r = session.post(f"{base}/v1/cases", json=body, headers={"X-API-Key": API_KEY}, timeout=30)
    if r.status_code != 201:
        raise SystemExit(f"intake answered {r.status_code}: {r.text[:300]}")


def poster(base: str) -> Callable[[dict[str, Any]], None]:
    """POST one case per call, each client thread on its own kept-alive session."""
    local = threading.local()

    def send(body: dict[str, Any]) -> None:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        post(local.session, base, body)

    return send


def run_http_intake(hub: Hub, base: str, bodies: list[dict[str, Any]], clients: int) -> Figures:
    engine = hub.engine
    empty(engine)
    send = poster(base)
    t0 = time.time()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(send, bodies))
    intake = time.time() - t0
    figures = finish(engine, f"hub, HTTP intake (1 case/request, {clients} clients)", len(bodies), t0)
    print(f"    (intake alone: {len(bodies) / intake:.0f} cases/s)")
    return figures


def run_paced(hub: Hub, base: str, bodies: list[dict[str, Any]], rate: float) -> Figures:
    """Open loop: case i is sent at t0 + i/rate whatever the answers' pace."""
    engine = hub.engine
    empty(engine)
    send = poster(base)
    t0 = time.time()
    with ThreadPoolExecutor(16) as pool:
        for i, body in enumerate(bodies):
            time.sleep(max(0.0, t0 + i / rate - time.time()))
            pool.submit(send, body)
    return finish(engine, f"hub, paced HTTP intake at {rate:g} cases/s", len(bodies), t0)


def agency_answers_by_callback(hub: Hub, rest: Simulator, base: str) -> None:
    """Every simulated agency acknowledges each case through the agency API as soon as it has it."""
    rest.controller.hub_url = base
    for agency_id, agency in hub.directory.agencies.items():
        if agency.adapter.kind == "rest":
            rest.controller.hub_keys[agency_id] = agency_keys.create(hub.engine, hub.directory, agency_id, "bench").key
            rest.controller.set_mode(agency_id, "ok", answer_after=0.0, push=True)


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=2000, help="cases (and raw tasks) per throughput run")
    parser.add_argument("--rate", type=float, default=50.0, help="cases per second in the paced run")
    parser.add_argument("--paced-seconds", type=float, default=20.0, help="length of the paced run")
    parser.add_argument("--clients", type=int, default=8, help="HTTP client threads")
    parser.add_argument("--batch", type=int, default=50, help="cases per request in batch intake")
    parser.add_argument("--workers", type=int, default=1, help="hub worker processes")
    parser.add_argument("--api-workers", type=int, default=1, help="API processes")
    parser.add_argument(
        "--rest", action="store_true", help="REST agencies on the bundled simulator instead of manual ones"
    )
    parser.add_argument("--only", choices=["raw", "batch", "http", "paced"], action="append", help="run only these")
    parser.add_argument(
        "--admin-url", default=os.environ.get("TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    )
    parser.add_argument(
        "--broker-url", default=os.environ.get("TEST_RABBIT_URL", "amqp://guest:guest@127.0.0.1:5672//")
    )
    args = parser.parse_args()
    global milestone
    milestone = MILESTONE["rest" if args.rest else "manual"]
    only = set(args.only or ["raw", "batch", "http", "paced"])
    configure_logging("console", "WARNING")
    prefix = f"bench-{uuid.uuid4().hex[:8]}"

    work = PROJECT_ROOT / "var" / prefix  # the config and every process's log, kept for reading
    work.mkdir(parents=True)
    rest = start_simulator() if args.rest else None
    with scratch_database(args.admin_url) as db_url:
        categories = write_config(work / "config", rest.url if rest else None)
        settings = Settings(
            database_url=db_url,
            broker_url=args.broker_url,
            queue_prefix=prefix,
            config_dir=work / "config",
            national_api_key=API_KEY,
        )
        hub = Hub(settings)
        env = {
            **os.environ,
            "HUB_DATABASE_URL": db_url,
            "HUB_BROKER_URL": args.broker_url,
            "HUB_QUEUE_PREFIX": prefix,
            "HUB_CONFIG_DIR": str(work / "config"),
            "HUB_NATIONAL_API_KEY": API_KEY,
            "HUB_LOG_LEVEL": "WARNING",
            "BENCH_SIGNING_SECRET": uuid.uuid4().hex,
        }
        procs = Processes(env, work)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        s = settings
        print(f"logs in {work}")
        print(
            f"tawasul-hub throughput: {os.cpu_count()} CPUs; relay_interval {s.relay_interval} s, relay_batch "
            f"{s.relay_batch}, task_batch {s.task_batch}, agency_max_in_flight {s.agency_max_in_flight}, "
            f"{args.workers} worker process(es) x {s.worker_concurrency} threads; "
            f"agencies: {'REST (simulator in this process), delivered = accepted with a ticket' if rest else 'manual'}"
        )
        results: list[Figures] = []
        try:
            if "raw" in only:
                results.append(run_raw(procs, args.broker_url, prefix, args.cases, s.worker_concurrency, work))
                print(results[-1].line(), flush=True)
            for n in range(args.workers):
                procs.start(HUB, "worker", name=f"worker-{n}")
            procs.start(HUB, "scheduler", name="scheduler")
            procs.start(HUB, "api", "--port", str(port), "--workers", str(args.api_workers), name="api")
            wait_for(lambda: _up(base), "the API to start", timeout=60)
            if rest:
                agency_answers_by_callback(hub, rest, base)
            warm = case_bodies(20, categories, "warm")
            post(requests.Session(), base, warm[0])
            wait_for(lambda: reached_count(hub.engine) >= 1, "the warm-up case to arrive", timeout=60)
            if "batch" in only:
                results.append(run_batch_intake(hub, base, case_bodies(args.cases, categories, "batch"), args.batch, 2))
                print(results[-1].line(), flush=True)
            if "http" in only:
                results.append(run_http_intake(hub, base, case_bodies(args.cases, categories, "http"), args.clients))
                print(results[-1].line(), flush=True)
            if "paced" in only:
                n = int(args.rate * args.paced_seconds)
                results.append(run_paced(hub, base, case_bodies(n, categories, "paced"), args.rate))
                print(results[-1].line(), flush=True)
        finally:
            procs.stop_all()
            hub.engine.dispose()
            delete_queues(args.broker_url, [f"{prefix}.{q}" for q in ("raw", "deliver", "webhook")])
            if rest:
                rest.stop()
        raw = next((r for r in results if r.label.startswith("raw")), None)
        if raw:
            for r in results:
                if r is not raw and not r.label.startswith("hub, paced"):
                    print(f"ratio hub/raw, {r.label.split(', ', 1)[1]}: {r.rate / raw.rate:.2f}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _up(base: str) -> bool:
    try:
        return requests.get(f"{base}/healthz", timeout=1).ok
    except requests.RequestException:
        return False


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "raw-worker":
        p = argparse.ArgumentParser()
        p.add_argument("raw-worker")
        for flag in ("--broker-url", "--queue", "--done-file"):
            p.add_argument(flag, required=True)
        p.add_argument("--expect", type=int, required=True)
        p.add_argument("--concurrency", type=int, required=True)
        a = p.parse_args()
        raw_worker(a.broker_url, a.queue, a.expect, a.done_file, a.concurrency)
    else:
        main()
