"""Benchmark: cases through intake → routed → delivered on PostgreSQL + RabbitMQ, next to raw Celery and a naive peer.

In one run, on the same broker (a queue prefix of its own) and a scratch PostgreSQL database
(created and dropped here):

1. raw: N no-op Celery tasks published one by one with publisher confirms, consumed by a worker
   process with the hub's worker settings (threads, late acks, prefetch 1);
2. naive peer: the design most teams would write first (bench/naive_peer.py: a minimal FastAPI
   endpoint with the same uvicorn settings and case model, one transaction, Celery `apply_async`
   with confirms; a worker marks the case delivered), N cases one per request by several clients;
3. hub, batch intake: N cases POSTed to `/v1/cases/batch` of a `tawasul-hub api` process (50 a
   request, one transaction each), relayed and delivered by `tawasul-hub scheduler` and
   `tawasul-hub worker` processes;
4. hub, HTTP intake: N cases POSTed one per request to a `tawasul-hub api` process by several
   client threads;
5. paced: cases POSTed over HTTP at a fixed rate (50/s by default), for latency.

For each run it reports the CPU seconds per case of each process (API, worker, scheduler, the
PostgreSQL backends of the scratch database, the RabbitMQ server, and this script: its clients and,
with --rest, the agencies it plays) read from /proc before and after, the whole machine's, the
PostgreSQL sessions opened during the run, and each process's resident memory at rest and after
the paced run. On a
shared machine absolute figures move from run to run; the ratios measured in one run are the
measure, and on a noisy one `--rounds N` pairs N hub runs each with a peer run of its own just
before it and reports the medians of the ratios.

Agencies use the manual adapter (delivery is cheap), so the figures measure the hub, not an agency;
`--rest` makes them REST agencies played by the bundled simulator (adapters/testing/rest_agency/)
in this process, each acknowledging every case through the hub's agency API as soon as it has it;
a case's trip then ends at its `message.acknowledged` event (delivered and acknowledged). Latency is
from the case's `created_at` (intake commit) to that event (`handoff.delivered` for manual
agencies). Settings come from the environment as in production, so a change can be measured
without editing code: HUB_AGENCY_MAX_IN_FLIGHT (2 by default: at most 16 REST deliveries in flight
over 8 agencies; manual agencies have no limit), HUB_TASK_BATCH, HUB_RELAY_INTERVAL, HUB_RELAY_LINGER.

    .venv/bin/python bench/throughput.py [--cases 2000] [--rate 50] [--paced-seconds 20] [--workers 1]
    HUB_AGENCY_MAX_IN_FLIGHT=200 .venv/bin/python bench/throughput.py --workers 2 [--rest]
    .venv/bin/python bench/throughput.py --only http --profile   # py-spy stacks of each process
    .venv/bin/python bench/throughput.py --only peer --only http --scale   # 1-2 API x 1-2 worker processes
    .venv/bin/python bench/throughput.py --only peer --only http --rounds 3   # medians of 3 paired runs
    .venv/bin/python bench/throughput.py --rest --only peer --only http --cases 1500 --peer-cases 6000 --rounds 3
        # the same, each peer run about as long as the hub's
    .venv/bin/python bench/throughput.py --rest --only calls   # API CPU: an agency call next to an intake request

Each process's log (and with --profile its collapsed stacks) and the generated config stay in
var/bench-<prefix>/.

Goals (issue 14): one case a request, hub >= 0.8 x the naive peer, CPU per case <= 1.5 x its;
`--rest` >= 0.25 x the peer; paced at 50/s p99 < 250 ms to delivered, < 500 ms to acknowledged;
batch intake >= 1.0 x raw.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import partial
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
from broker.recurring import store as recurring_store
from broker.settings import PROJECT_ROOT, Settings
from broker.store.migrate import upgrade
from broker.store.tables import cases, cursors, events, handoffs, metadata

sys.path.insert(0, str(Path(__file__).parent))  # bench/naive_peer.py

HUB = str(Path(sys.executable).parent / "tawasul-hub")
API_KEY = "bench-national-key-0123456789-abcdefgh"
AGENCIES = 8
RAW_TASK = "bench.noop"


# ---------------------------------------------------------------- scenario: config and cases


def write_config(directory: Path, rest_url: str | None = None) -> list[str]:
    """Agencies (manual, or REST ones at `rest_url`), one category each; returns the categories."""
    agencies: list[dict[str, Any]] = [
        {"id": "central-office", "name_ar": "المكتب المركزي", "name_en": "Central office", "status": "onboarded"}
    ]
    agencies[0]["operator"] = True
    categories: list[dict[str, Any]] = []
    for n in range(AGENCIES):
        agency: dict[str, Any] = {"id": f"agency-{n}", "name_ar": f"جهة {n}", "name_en": f"Agency {n}"}
        if rest_url is None:
            agency["status"] = "joining"
        else:
            agency["status"] = "onboarded"
            agency["adapter"] = {
                "kind": "rest",
                "base_url": f"{rest_url}/agency-{n}",
                "plain_http": True,  # the simulator speaks plain HTTP
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

    def __init__(self, env: dict[str, str], logs: Path, profile: bool = False) -> None:
        self.env = env
        self.logs = logs
        self.profile = profile
        self.children: list[subprocess.Popen[bytes]] = []
        self.named: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, *argv: str, name: str) -> subprocess.Popen[bytes]:
        if self.profile:  # py-spy samples on-CPU stacks of the process and its children (collapsed format)
            spy = str(Path(sys.executable).parent / "py-spy")
            argv = (
                spy,
                "record",
                "--subprocesses",
                "--gil",
                "-f",
                "raw",
                "-r",
                "100",
                "-o",
                str(self.logs / f"{name}.stacks"),
                "--",
                *argv,
            )
        with (self.logs / f"{name}.log").open("ab") as out:
            p = subprocess.Popen(list(argv), env=self.env, stdout=out, stderr=subprocess.STDOUT)
        self.children.append(p)
        self.named[name] = p
        return p

    def pids(self, prefix: str) -> list[int]:
        """The live processes started under names beginning with `prefix`, and all their descendants."""
        return [pid for name, p in self.named.items() if name.startswith(prefix) for pid in family(p.pid)]

    def stop(self, prefix: str) -> None:
        """Stop the processes named with this prefix (and wait for them)."""
        chosen = [p for name, p in self.named.items() if name.startswith(prefix)]
        for p in chosen:
            p.terminate()
        for p in chosen:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
        self.named = {n: p for n, p in self.named.items() if p not in chosen}

    def stop_all(self) -> None:
        for p in self.children:
            if self.profile:  # stop the profiled process: py-spy then writes its stacks and exits
                for child in children_of(p.pid):
                    os.kill(child, signal.SIGTERM)
            else:
                p.terminate()
        for p in self.children:
            try:
                p.wait(60 if self.profile else 15)
            except subprocess.TimeoutExpired:
                p.kill()


def children_of(pid: int) -> list[int]:
    """The direct children of a process (Linux)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def family(pid: int) -> list[int]:
    """A process and all its descendants."""
    found, todo = [], [pid]
    while todo:
        found.append(todo.pop())
        todo += children_of(found[-1])
    return found


TICK = os.sysconf("SC_CLK_TCK")


def cpu_of(pid: int) -> float:
    """CPU seconds (user + system) a process has used; 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_of(pid: int) -> float:
    """Resident size in MB; 0 if the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, every process of every user."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / TICK, sum(values) / TICK


def rabbitmq_pids() -> list[int]:
    found = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == "beam.smp":
                found.append(int(comm.parent.name))
        except OSError:
            pass
    return found


BENCH_APP = "bench-client"
"""application_name of this script's own database connections, left out of PostgreSQL's figures."""


def postgres_backends(engine: Engine) -> list[int]:
    """The server processes of the scratch database's connections, except this script's own."""
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name <> :me"),
            {"me": BENCH_APP},
        )
        return [int(r.pid) for r in rows]


def pg_sessions(engine: Engine) -> int:
    """Sessions opened on the scratch database so far (PostgreSQL's statistics, a moment behind).

    A session that opens and closes within a run costs PostgreSQL a process start the backends'
    CPU never shows: the count makes such churn visible.
    """
    with engine.connect() as conn:
        q = text("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        return int(conn.execute(q).scalar_one())


class Meter:
    """CPU seconds each group of processes spends between `start` and `stop`; the machine's too.

    PostgreSQL counts the backends serving the scratch database (not its shared background
    writers); RabbitMQ is its whole server process (other users of the broker included).
    `sessions` reads how many PostgreSQL sessions were opened so far.

    The groups are read every `SAMPLE_SECONDS` while the meter runs, and a process that ends
    counts with its last reading: read only at the start and the stop, a backend whose session
    closed during the run (a pool replacing a connection) took its CPU away with it.
    """

    SAMPLE_SECONDS = 0.5

    def __init__(self, groups: dict[str, Callable[[], list[int]]], sessions: Callable[[], int]) -> None:
        self.groups = groups
        self.sessions = sessions
        self.before: dict[str, dict[int, float]] = {}
        self.seen: dict[str, dict[int, float]] = {}
        self.machine = (0.0, 0.0)
        self.opened = 0
        self.running = threading.Event()
        self.sampler: threading.Thread | None = None

    def _read(self) -> dict[str, dict[int, float]]:
        return {name: {pid: cpu_of(pid) for pid in pids()} for name, pids in self.groups.items()}

    def _sample(self) -> None:
        for name, pids in self._read().items():
            self.seen.setdefault(name, {}).update({pid: t for pid, t in pids.items() if t > 0})

    def _sampling(self) -> None:
        while not self.running.wait(self.SAMPLE_SECONDS):
            self._sample()

    def start(self) -> None:
        self.before = self._read()
        self.seen = {}
        self.machine = machine_busy()
        self.opened = self.sessions()
        self.running.clear()
        self.sampler = threading.Thread(target=self._sampling, name="meter", daemon=True)
        self.sampler.start()

    def stop(self) -> dict[str, float]:
        self.running.set()
        if self.sampler is not None:
            self.sampler.join()
        self._sample()
        used = {
            name: sum(max(0.0, t - self.before.get(name, {}).get(pid, 0.0)) for pid, t in pids.items())
            for name, pids in self.seen.items()
        }
        busy, total = machine_busy()
        used["machine"] = busy - self.machine[0]
        used["machine_share"] = (busy - self.machine[0]) / max(1e-9, total - self.machine[1])
        used["sessions"] = self.sessions() - self.opened
        return used

    def rss(self) -> dict[str, float]:
        return {name: sum(rss_of(pid) for pid in pids()) for name, pids in self.groups.items()}


def wait_for(check: Callable[[], object], what: str, timeout: float, every: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(every)
    raise SystemExit(f"timed out after {timeout} s waiting for {what}")


def delete_queues(broker_url: str, names: list[str]) -> None:
    from kombu.connection import Connection

    with Connection(broker_url, connect_timeout=5) as conn:
        channel = conn.channel()
        for name in names:
            channel.queue_delete(name)
            channel.exchange_delete(name)


# ---------------------------------------------------------------- raw Celery baseline


def raw_app(broker_url: str, queue: str) -> Any:
    """A Celery app with the hub's reliability settings and one no-op task."""
    from celery import Celery
    from kombu.entity import Exchange, Queue

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
    cpu: dict[str, float] | None = None
    """CPU seconds per process group over the run (see Meter)."""

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


# ---------------------------------------------------------------- the naive peer


PEER = str(Path(__file__).parent / "naive_peer.py")


def run_peer(
    procs: Processes, db_url: str, broker_url: str, queue: str, bodies: list[dict[str, Any]], clients: int, meter: Meter
) -> Figures:
    """The design most teams would write first (bench/naive_peer.py), one case a request, end to end."""
    from naive_peer import create_table, peer_cases

    engine = create_engine(db_url, connect_args={"application_name": BENCH_APP})
    create_table(engine)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    common = ["--database-url", db_url, "--broker-url", broker_url, "--queue", queue]
    procs.start(sys.executable, PEER, "worker", *common, name="peer-worker")
    procs.start(sys.executable, PEER, "api", "--port", str(port), "--api-key", API_KEY, *common, name="peer-api")

    def delivered() -> int:
        with engine.connect() as conn:
            q = select(func.count()).select_from(peer_cases).where(peer_cases.c.state == "delivered")
            return int(conn.execute(q).scalar_one())

    try:
        wait_for(lambda: _up(base), "the peer's API to start", timeout=60)
        post(client(), base, {**bodies[0], "reference": "TW-BENCH-peer-warm"})
        wait_for(lambda: delivered() >= 1, "the peer's warm-up case", timeout=60)
        with engine.begin() as conn:
            conn.execute(peer_cases.delete())
        send = poster(base)
        meter.start()
        t0 = time.time()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(send, bodies))
        intake = time.time() - t0
        wait_for(lambda: delivered() >= len(bodies), "the peer to deliver every case", timeout=600, every=0.25)
        cpu = meter.stop()
        with engine.connect() as conn:
            rows = conn.execute(select(peer_cases.c.created_at, peer_cases.c.delivered_at)).all()
        last = max(r.delivered_at for r in rows).timestamp()
        lat = [(r.delivered_at - r.created_at).total_seconds() for r in rows]
        print(f"    (intake alone: {len(bodies) / intake:.0f} cases/s)")
        return Figures(f"naive peer, HTTP intake (1 case/request, {clients} clients)", len(bodies), last - t0, lat, cpu)
    finally:
        procs.stop("peer-")
        engine.dispose()


# ---------------------------------------------------------------- the hub


MILESTONE = {"manual": "handoff.delivered", "rest": "message.acknowledged"}
"""Where a case's trip ends: delivered (manual agencies), or acknowledged by the agency (REST)."""
milestone = MILESTONE["manual"]


def reached_count(engine: Engine) -> int:
    """Handoffs that reached the milestone."""
    with engine.connect() as conn:
        query = select(func.count(func.distinct(events.c.handoff_id))).where(events.c.type == milestone)
        return int(conn.execute(query).scalar_one())


def grouped(engine: Engine) -> bool:
    """Whether the scheduler's recurring grouping has made its first pass over cases."""
    with engine.connect() as conn:
        return conn.execute(select(cursors.c.name).where(cursors.c.name == recurring_store.CURSOR)).first() is not None


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
    wait_for(
        lambda: reached_count(engine) + failed_count(engine) >= n,
        f"{n} handoffs: {milestone}",
        timeout=600,
        every=0.25,  # a count every 20 ms would be load of its own on PostgreSQL
    )
    if (failed := failed_count(engine)) > 0:
        print(f"    ({failed} handoffs FAILED; the figures count only the others)")
    return Figures(label, n, last_delivery(engine) - t0, latencies(engine))


def run_batch_intake(
    hub: Hub, base: str, bodies: list[dict[str, Any]], batch: int, clients: int, meter: Meter
) -> Figures:
    engine = hub.engine
    empty(engine)
    chunks = [bodies[i : i + batch] for i in range(0, len(bodies), batch)]
    local = threading.local()

    def send(chunk: list[dict[str, Any]]) -> None:
        if not hasattr(local, "session"):
            local.session = client()
        r = local.session.post(
            f"{base}/v1/cases/batch", json={"cases": chunk}, headers={"X-API-Key": API_KEY}, timeout=60
        )
        if r.status_code != 200:
            raise SystemExit(f"batch intake answered {r.status_code}: {r.text[:300]}")

    meter.start()
    t0 = time.time()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(send, chunks))
    intake = time.time() - t0
    figures = finish(engine, f"hub, HTTP batch intake ({batch} cases/request, {clients} clients)", len(bodies), t0)
    figures.cpu = meter.stop()
    print(f"    (intake alone: {len(bodies) / intake:.0f} cases/s)")
    return figures


def client() -> requests.Session:
    """A kept-alive HTTP session without requests' per-request look at the environment (.netrc, proxies)."""
    session = requests.Session()
    session.trust_env = False
    return session


def post(session: requests.Session, base: str, body: dict[str, Any]) -> None:
    r = session.post(f"{base}/v1/cases", json=body, headers={"X-API-Key": API_KEY}, timeout=30)
    if r.status_code != 201:
        raise SystemExit(f"intake answered {r.status_code}: {r.text[:300]}")


def poster(base: str) -> Callable[[dict[str, Any]], None]:
    """POST one case per call, each client thread on its own kept-alive session."""
    local = threading.local()

    def send(body: dict[str, Any]) -> None:
        if not hasattr(local, "session"):
            local.session = client()
        post(local.session, base, body)

    return send


def run_http_intake(hub: Hub, base: str, bodies: list[dict[str, Any]], clients: int, meter: Meter) -> Figures:
    engine = hub.engine
    empty(engine)
    send = poster(base)
    meter.start()
    t0 = time.time()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(send, bodies))
    intake = time.time() - t0
    figures = finish(engine, f"hub, HTTP intake (1 case/request, {clients} clients)", len(bodies), t0)
    figures.cpu = meter.stop()
    print(f"    (intake alone: {len(bodies) / intake:.0f} cases/s)")
    return figures


def run_paced(hub: Hub, base: str, bodies: list[dict[str, Any]], rate: float, meter: Meter) -> Figures:
    """Open loop: case i is sent at t0 + i/rate whatever the answers' pace."""
    engine = hub.engine
    empty(engine)
    send = poster(base)
    meter.start()
    t0 = time.time()
    with ThreadPoolExecutor(16) as pool:
        for i, body in enumerate(bodies):
            time.sleep(max(0.0, t0 + i / rate - time.time()))
            pool.submit(send, body)
    figures = finish(engine, f"hub, paced HTTP intake at {rate:g} cases/s", len(bodies), t0)
    figures.cpu = meter.stop()
    return figures


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
    parser.add_argument(
        "--peer-cases",
        type=int,
        help="cases in each naive peer run (default: --cases); with --rest, about 4 x --cases makes the peer run "
        "as long as the hub (on a shared machine, a few seconds of load run faster than half a minute of it)",
    )
    parser.add_argument("--clients", type=int, default=8, help="HTTP client threads")
    parser.add_argument("--batch", type=int, default=50, help="cases per request in batch intake")
    parser.add_argument("--workers", type=int, default=1, help="hub worker processes")
    parser.add_argument("--api-workers", type=int, default=1, help="API processes")
    parser.add_argument(
        "--rest", action="store_true", help="REST agencies on the bundled simulator instead of manual ones"
    )
    parser.add_argument("--profile", action="store_true", help="run each process under py-spy (stacks in the log dir)")
    parser.add_argument(
        "--scale",
        action="store_true",
        help="then one case a request again with 1 and 2 API processes x 1 and 2 worker processes",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="one case a request this many times, each next to a naive peer's run of its own: medians of the ratios",
    )
    parser.add_argument(
        "--only",
        choices=["raw", "peer", "batch", "http", "paced", "calls"],
        action="append",
        help="run only these (`calls`, with --rest: the API's CPU per intake request and per agency call)",
    )
    parser.add_argument(
        "--admin-url", default=os.environ.get("TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    )
    parser.add_argument(
        "--broker-url", default=os.environ.get("TEST_RABBIT_URL", "amqp://guest:guest@127.0.0.1:5672//")
    )
    args = parser.parse_args()
    global milestone
    milestone = MILESTONE["rest" if args.rest else "manual"]
    only = set(args.only or ["raw", "peer", "batch", "http", "paced"])
    if "calls" in only and not args.rest:
        parser.error("--only calls needs --rest (agencies that call the agency API)")
    configure_logging("console", "WARNING")
    prefix = f"bench-{uuid.uuid4().hex[:8]}"

    work = PROJECT_ROOT / "var" / prefix  # the config and every process's log, kept for reading
    work.mkdir(parents=True)
    rest = start_simulator() if args.rest else None
    with scratch_database(args.admin_url) as db_url:
        categories = write_config(work / "config", rest.url if rest else None)
        settings = Settings(
            database_url=f"{db_url}?application_name={BENCH_APP}",
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
            # an agency's message limits guard against a runaway system; a run's agencies each send
            # hundreds of messages in seconds, on purpose (a limit set in the environment wins)
            "HUB_MESSAGE_RATE": os.environ.get("HUB_MESSAGE_RATE", "100000"),
            "HUB_MESSAGE_BURST": os.environ.get("HUB_MESSAGE_BURST", "100000"),
        }
        procs = Processes(env, work, profile=args.profile)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        s = settings
        print(f"logs in {work}")
        print(
            f"tawasul-hub throughput: {os.cpu_count()} CPUs; relay_interval {s.relay_interval} s, linger "
            f"{s.relay_linger} s (after agencies' work {s.relay_agency_linger} s), relay_batch "
            f"{s.relay_batch}, task_batch {s.task_batch}, agency_max_in_flight {s.agency_max_in_flight}, "
            f"{args.workers} worker process(es) x {s.worker_concurrency} threads; "
            f"agencies: {'REST (simulator in this process), delivered = accepted with a ticket' if rest else 'manual'}"
        )
        results: list[Figures] = []
        shared: dict[str, Callable[[], list[int]]] = {
            "postgres": lambda: postgres_backends(hub.engine),
            "rabbitmq": rabbitmq_pids,
            "bench": lambda: [os.getpid()],  # the clients, and with --rest the agencies it plays
        }
        sessions = partial(pg_sessions, hub.engine)
        peer_meter = Meter(
            {"api": lambda: procs.pids("peer-api"), "worker": lambda: procs.pids("peer-worker"), **shared}, sessions
        )
        meter = Meter(
            {
                "api": lambda: procs.pids("api"),
                "worker": lambda: procs.pids("worker-"),
                "scheduler": lambda: procs.pids("scheduler"),
                **shared,
            },
            sessions,
        )
        try:
            if "raw" in only:
                results.append(run_raw(procs, args.broker_url, prefix, args.cases, s.worker_concurrency, work))
                print(results[-1].line(), flush=True)

            def peer_round(r: int) -> None:
                bodies = case_bodies(args.peer_cases or args.cases, categories, f"peer-{r}")
                queue = f"{prefix}.peer"
                results.append(run_peer(procs, db_url, args.broker_url, queue, bodies, args.clients, peer_meter))
                print(results[-1].line(), flush=True)

            if "peer" in only:
                peer_round(0)
            for n in range(args.workers):
                procs.start(HUB, "worker", name=f"worker-{n}")
            procs.start(HUB, "scheduler", name="scheduler")
            procs.start(HUB, "api", "--port", str(port), "--workers", str(args.api_workers), name="api")
            wait_for(lambda: _up(base), "the API to start", timeout=60)
            if rest:
                agency_answers_by_callback(hub, rest, base)
            warm = case_bodies(20, categories, "warm")
            post(client(), base, warm[0])
            wait_for(lambda: reached_count(hub.engine) >= 1, "the warm-up case to arrive", timeout=60)
            if settings.recurring:  # its first pass loads scikit-learn (2 s of CPU): start-up, not a case's cost
                wait_for(lambda: grouped(hub.engine), "the scheduler's first recurring pass", timeout=120)
            memory = {"at rest": meter.rss()}
            if "batch" in only:
                bodies = case_bodies(args.cases, categories, "batch")
                results.append(run_batch_intake(hub, base, bodies, args.batch, 2, meter))
                print(results[-1].line(), flush=True)
            for r in range(args.rounds if "http" in only else 0):
                if r > 0 and "peer" in only:
                    peer_round(r)  # the hub's processes idle meanwhile
                bodies = case_bodies(args.cases, categories, f"http-{r}")
                results.append(run_http_intake(hub, base, bodies, args.clients, meter))
                print(results[-1].line(), flush=True)
            if "paced" in only:
                n = int(args.rate * args.paced_seconds)
                results.append(run_paced(hub, base, case_bodies(n, categories, "paced"), args.rate, meter))
                print(results[-1].line(), flush=True)
                memory["after the paced run"] = meter.rss()
            if "calls" in only and rest:
                bodies = case_bodies(min(args.cases, 1600), categories, "calls")
                results.extend(run_agency_calls(procs, hub, base, rest, bodies, args.clients, args.workers, meter))
            if args.scale:
                for apis, workers in SCALE:
                    results.append(
                        run_scaled(procs, hub, base, port, apis, workers, categories, args.cases, args.clients, meter)
                    )
                    print(results[-1].line(), flush=True)
        finally:
            procs.stop_all()
            hub.engine.dispose()
            queues = ("raw", "peer", "deliver", "webhook", "follow_on")
            delete_queues(args.broker_url, [f"{prefix}.{q}" for q in queues])
            if rest:
                rest.stop()
        report(results, memory)


SCALE = ((1, 1), (2, 1), (1, 2), (2, 2))
"""API processes x worker processes for `--scale`: what a second process of each kind buys on these cores."""
CALL_ROUND = 100
"""Requests of each kind a round in `--only calls`."""


def run_scaled(
    procs: Processes,
    hub: Hub,
    base: str,
    port: int,
    apis: int,
    workers: int,
    categories: list[str],
    cases: int,
    clients: int,
    meter: Meter,
) -> Figures:
    """One case a request with `apis` API and `workers` worker processes (the scheduler stays)."""
    procs.stop("api")
    procs.stop("worker-")
    for n in range(workers):
        procs.start(HUB, "worker", name=f"worker-{n}")
    procs.start(HUB, "api", "--port", str(port), "--workers", str(apis), name="api")
    wait_for(lambda: _up(base), "the API to start", timeout=60)
    bodies = case_bodies(cases, categories, f"scale-{apis}-{workers}")
    figures = run_http_intake(hub, base, bodies, clients, meter)
    figures.label = f"hub, 1 case/request, {apis} API x {workers} worker proc."
    return figures


def run_agency_calls(
    procs: Processes,
    hub: Hub,
    base: str,
    rest: Simulator,
    bodies: list[dict[str, Any]],
    clients: int,
    workers: int,
    meter: Meter,
) -> list[Figures]:
    """The API's CPU per request: one-case intake requests next to acknowledgements through the agency API.

    The first half of `bodies` is taken in and delivered unmeasured; then, with the workers
    stopped, the benchmark alternates rounds of CALL_ROUND intake requests (the second half) and
    CALL_ROUND acknowledgements of the delivered handoffs, in place of the agencies (with their
    keys; they do not push meanwhile). Both kinds meet the same machine, round after round, so the
    ratio of the API's CPU per request is not one phase's luck with a noisy neighbour. Each from
    `clients` threads on kept-alive sessions. At most 1,600 cases.
    """
    engine = hub.engine
    empty(engine)
    for agency_id in rest.controller.hub_keys:
        rest.controller.set_mode(agency_id, "ok")
    half = len(bodies) // 2
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(poster(base), bodies[:half]))

    def delivered() -> list[Any]:
        with engine.connect() as conn:
            query = select(handoffs.c.id, handoffs.c.agency_id, handoffs.c.agency_reference)
            return list(conn.execute(query.where(handoffs.c.state == "delivered")).all())

    wait_for(lambda: len(delivered()) >= half, f"{half} deliveries", timeout=600, every=0.25)
    procs.stop("worker-")
    local = threading.local()

    def acknowledge(row: Any) -> None:
        if not hasattr(local, "session"):
            local.session = client()
        r = local.session.post(
            f"{base}/agency/v1/handoffs/{row.id}/messages",
            json={"kind": "acknowledged", "text": "استلمنا طلبكم. Received.", "agency_reference": row.agency_reference},
            headers={"X-API-Key": rest.controller.hub_keys[row.agency_id], "Idempotency-Key": f"ack-{row.id}"},
            timeout=30,
        )
        if r.status_code != 201:
            raise SystemExit(f"the agency API answered {r.status_code}: {r.text[:300]}")

    rows = delivered()[:half]
    intake = Figures("api: one-case intake requests", 0, 0.0, [])
    calls = Figures("api: agency acknowledgements (agency API)", 0, 0.0, [])
    used_by: dict[str, dict[str, float]] = {intake.label: {}, calls.label: {}}
    with ThreadPoolExecutor(clients) as pool:
        for at in range(0, half, CALL_ROUND):
            for figures, send, items in (
                (intake, poster(base), bodies[half + at : half + at + CALL_ROUND]),
                (calls, acknowledge, rows[at : at + CALL_ROUND]),
            ):
                meter.start()
                t0 = time.time()
                list(pool.map(send, items))
                figures.seconds += time.time() - t0
                figures.count += len(items)
                cpu = used_by[figures.label]
                for name, used in meter.stop().items():
                    cpu[name] = cpu.get(name, 0.0) + used
    for n in range(workers):
        procs.start(HUB, "worker", name=f"worker-{n}")
    for f in (intake, calls):
        f.cpu = used_by[f.label]
        f.cpu["machine_share"] /= half / CALL_ROUND
        print(f"{f.label:<48} {f.count:>6} in {f.seconds:6.2f} s = {f.rate:7.1f}/s", flush=True)
    ratio = (used_by[calls.label]["api"] / calls.count) / (used_by[intake.label]["api"] / intake.count)
    print(f"API CPU per request, agency acknowledgement / one-case intake: {ratio:.2f}")
    return [intake, calls]


def report(results: list[Figures], memory: dict[str, dict[str, float]]) -> None:
    """Ratios against the baselines of this run, CPU per case per process, resident memory."""
    raw = next((r for r in results if r.label.startswith("raw")), None)
    peer_of = _peers(results)
    print()
    for r in results:
        if r is raw or r.label.startswith(("naive peer", "hub, paced", "api:")):
            continue
        what = r.label.split(", ", 1)[1]
        if raw:
            print(f"ratio hub/raw, {what}: {r.rate / raw.rate:.2f}")
        if peer := peer_of.get(id(r)):
            print(f"ratio hub/naive peer, {what}: {r.rate / peer.rate:.2f}")
    columns = ["api", "worker", "scheduler", "postgres", "rabbitmq", "bench", "machine"]
    print(
        "\nCPU milliseconds per case (bench: this script's clients, and with --rest the agencies it plays; "
        "machine: every process on it, other users included)"
    )
    print(f"{'run':<48}" + "".join(f"{c:>10}" for c in columns) + f"{'busy':>7}{'sessions':>10}")
    for r in results:
        if r.cpu is None:
            continue
        cells = "".join(f"{1000 * r.cpu.get(c, 0.0) / r.count:>10.2f}" for c in columns)
        print(f"{r.label[:47]:<48}{cells}{100 * r.cpu['machine_share']:>6.0f}%{r.cpu['sessions']:>10.0f}")
    print("(sessions: PostgreSQL sessions opened during the run, from its statistics; a steady pool opens none)")
    own = ("api", "worker", "scheduler", "postgres")
    for r in results:
        peer = peer_of.get(id(r))
        if r.cpu is not None and peer is not None and peer.cpu and not r.label.startswith(("hub, paced", "api:")):
            mine = sum(peer.cpu.get(c, 0.0) for c in own) / peer.count
            theirs = sum(r.cpu.get(c, 0.0) for c in own) / r.count
            print(f"CPU per case (API + worker + scheduler + PostgreSQL), {r.label} / naive peer: {theirs / mine:.2f}")
    rounds(results)
    if memory:
        print("\nresident memory, MB")
        for when, sizes in memory.items():
            print(f"  {when:<22}" + "  ".join(f"{k} {v:.0f}" for k, v in sizes.items() if k in columns))


def _peers(results: list[Figures]) -> dict[int, Figures]:
    """Each hub run's naive peer: the peer run just before it (with --rounds, its own round's), else the first."""
    peers = [r for r in results if r.label.startswith("naive peer")]
    paired: dict[int, Figures] = {}
    last = peers[0] if peers else None
    for r in results:
        if r.label.startswith("naive peer"):
            last = r
        elif last is not None:
            paired[id(r)] = last
    return paired


def rounds(results: list[Figures]) -> None:
    """With --rounds: each round's hub / peer ratios (rate, and CPU per case), and their medians."""
    peer_of = _peers(results)
    hubs = [r for r in results if r.label.startswith("hub, HTTP intake") and id(r) in peer_of]
    if len({id(peer_of[id(hub)]) for hub in hubs}) < 2:
        return
    own = ("api", "worker", "scheduler", "postgres")
    rates, cpus = [], []
    for hub in hubs:
        peer = peer_of[id(hub)]
        assert peer.cpu is not None and hub.cpu is not None
        rates.append(hub.rate / peer.rate)
        mine, theirs = (sum((f.cpu or {}).get(c, 0.0) for c in own) / f.count for f in (hub, peer))
        cpus.append(mine / theirs)
    print(f"\nrounds, one case a request: hub / naive peer, each round next to its own peer run ({len(rates)})")
    print("  rate:         " + "  ".join(f"{x:.2f}" for x in rates) + f"   median {statistics.median(rates):.2f}")
    print("  CPU per case: " + "  ".join(f"{x:.2f}" for x in cpus) + f"   median {statistics.median(cpus):.2f}")


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
