"""Benchmark (H4): national intake latency with and without a flood of wrong agency keys, in one run.

A `tawasul-hub api` process on a scratch SQLite store (in a temporary directory) serves; this
process measures `POST /v1/cases` one at a time:

1. baseline: no other traffic;
2. flood: meanwhile 48 connections send wrong secrets for a real agency key's lookup as fast as
   they are answered (the review's attack), with the hub's throttling as configured;
3. flood, throttle off: the same with the failure limits raised out of reach, so every wrong key
   is checked (one HMAC and one row read each): what the hash alone costs;
4. reference: the same 48 connections sending no key at all (the cheapest refusal there is), so
   what remains is the price of any flood of HTTP requests on this machine, not of key checks.

On a small machine the flooding client shares the CPU with the hub: compare phases 2 and 3 with 4.

It prints median, p95 and max per phase, the flood's answers by status, and each phase's median
against the baseline. Runs in well under a minute:

    .venv/bin/python bench/key_flood.py [--cases 150] [--connections 48]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import requests

from broker import agency_keys
from broker.hub import Hub
from broker.settings import Settings
from broker.store.migrate import upgrade

NATIONAL_KEY = "bench-national-key-" + "0" * 20
HUB = Path(sys.executable).parent / "tawasul-hub"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def case(n: int) -> dict[str, object]:
    return {
        "reference": f"TW-BENCH-{uuid.uuid4().hex[:10]}-{n}",
        "kind": "complaint",
        "category": "road-maintenance",
        "subject": "حفرة في الشارع",
        "description": "حفرة عميقة في الشارع.",
        "language": "ar",
        "channel": "portal",
        "submitted_at": "2026-11-22T09:14:00+03:00",
        "citizen": {"name": "فاطمة", "cpr": "850412345", "mobile": "+97333123456"},
        "location": {"governorate": "northern"},
    }


def start_api(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [str(HUB), "api", "--port", str(port)], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/healthz", timeout=0.5).ok:
                return proc, base
        except requests.RequestException:
            time.sleep(0.1)
    proc.terminate()
    raise SystemExit(f"the API did not start; see {log}")


def intake_latencies(base: str, cases: int) -> list[float]:
    session = requests.Session()
    session.headers["X-API-Key"] = NATIONAL_KEY
    out = []
    for n in range(cases):
        started = time.perf_counter()
        answer = session.post(f"{base}/v1/cases", json=case(n), timeout=60)
        out.append((time.perf_counter() - started) * 1000)
        if answer.status_code not in (200, 201):
            raise SystemExit(f"intake answered {answer.status_code}: {answer.text[:200]}")
    return out


def flood(base: str, wrong_key: str | None, connections: int, stop: threading.Event) -> Counter[int]:
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def one() -> None:
        session = requests.Session()
        if wrong_key is not None:
            session.headers["X-API-Key"] = wrong_key
        while not stop.is_set():
            try:
                code = session.get(f"{base}/agency/v1/handoffs", timeout=60).status_code
            except requests.RequestException:
                code = 0
            with lock:
                statuses[code] += 1

    threads = [threading.Thread(target=one, daemon=True) for _ in range(connections)]
    for t in threads:
        t.start()
    stop.wait()
    for t in threads:
        t.join(60)
    return statuses


def phase(name: str, env: dict[str, str], wrong_key: str | bool | None, args: argparse.Namespace, work: Path) -> float:
    proc, base = start_api(env, work / f"api-{name.replace(' ', '-')}.log")
    try:
        intake_latencies(base, 10)  # warm up
        stop = threading.Event()
        result: list[Counter[int]] = []
        flooder = None
        if wrong_key is not False:
            key = wrong_key if isinstance(wrong_key, str) else None
            flooder = threading.Thread(
                target=lambda: result.append(flood(base, key, args.connections, stop)), daemon=True
            )
            flooder.start()
            time.sleep(1.0)  # let the flood reach its pace
        started = time.perf_counter()
        lat = intake_latencies(base, args.cases)
        seconds = time.perf_counter() - started
        stop.set()
        if flooder is not None:
            flooder.join(90)
        p95 = statistics.quantiles(lat, n=20)[18]
        median = statistics.median(lat)
        answers = dict(sorted(result[0].items())) if result else {}
        print(f"{name:<22} intake median {median:7.1f} ms  p95 {p95:7.1f} ms  max {max(lat):7.1f} ms", end="")
        if answers:
            rate = sum(answers.values()) / seconds
            print(f"  | wrong-key answers {answers} (~{rate:.0f}/s)")
        else:
            print()
        return median
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=150)
    parser.add_argument("--connections", type=int, default=48)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="key-flood-") as tmp:
        work = Path(tmp)
        env = {
            **os.environ,
            "HUB_DATABASE_URL": f"sqlite:///{work / 'hub.db'}",
            "HUB_NATIONAL_API_KEY": NATIONAL_KEY,
            "HUB_KEY_PEPPER": "bench-pepper-" + "x" * 32,
            "HUB_LOG_FORMAT": "json",
        }
        os.environ.update({k: v for k, v in env.items() if k.startswith("HUB_")})
        hub = Hub(Settings())
        upgrade(hub.engine)
        issued = agency_keys.create(hub.engine, hub.directory, "ministry-of-works", created_by="bench")
        wrong = issued.key[:-8] + "00000000"
        hub.engine.dispose()
        print(f"{args.cases} intake POSTs per phase, {args.connections} flooding connections, one API process")
        base = phase("baseline", env, False, args, work)
        flooded = phase("flood (throttled)", env, wrong, args, work)
        unthrottled = {**env, "HUB_KEY_FAILURES_BURST": "100000000", "HUB_KEY_FAILURES_PER_MINUTE": "100000000"}
        open_flood = phase("flood (throttle off)", unthrottled, wrong, args, work)
        reference = phase("flood of no key (ref.)", env, None, args, work)
        print(
            f"median vs baseline: throttled {flooded / base:.2f}x, throttle off {open_flood / base:.2f}x, "
            f"no-key reference {reference / base:.2f}x"
        )


if __name__ == "__main__":
    main()
