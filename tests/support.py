"""Test helpers: run the relay and deliveries in this thread, serve the API on a real socket."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import requests
import uvicorn
from typer.testing import CliRunner, Result

from broker import dispatch, follow_ons, webhook
from broker.api import create_app
from broker.hub import Hub
from broker.outbox import DELIVER, FOLLOW_ON, WEBHOOK
from broker.relay import Relay
from schemas import CategoryRoute


def local_publish(hub: Hub) -> Callable[[str, list[tuple[str, str]]], None]:
    """A publisher that runs the work at once in this thread (no broker: for single-thread tests)."""

    def publish(topic: str, claims: list[tuple[str, str]]) -> None:
        if topic == DELIVER:
            dispatch.deliver(hub, claims)
        elif topic == FOLLOW_ON:
            follow_ons.send(hub, claims)
        elif topic == WEBHOOK:
            for _ref, token in claims:
                webhook.send_webhook(hub, token)

    return publish


def joint_category(hub: Hub) -> str:
    """Add a category routed to two agencies at once to the hub's directory; returns its id."""
    hub.directory.categories["joint-inspection"] = CategoryRoute(
        id="joint-inspection",
        name_ar="تفتيش مشترك",
        name_en="Joint inspection",
        agencies=["social-insurance-organisation", "capital-municipality"],
    )
    return "joint-inspection"


def pump(hub: Hub, rounds: int = 20) -> int:
    """Relay and deliver until nothing is due (or `rounds` passes); returns rows published."""
    relay = Relay(hub, local_publish(hub))
    total = 0
    for _ in range(rounds):
        n = relay.run_once()
        total += n
        if n == 0:
            break
    return total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def live_api(hub: Hub) -> Iterator[str]:
    """The hub's API on a real socket in a thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(hub), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: _up(base), "the API to start")
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(5)


def _up(base: str) -> bool:
    try:
        return requests.get(f"{base}/healthz", timeout=0.5).ok
    except requests.RequestException:
        return False


def collecting_relay(hub: Hub) -> tuple[Relay, list[list[tuple[str, str]]]]:
    """A relay whose broker messages are kept (each its (ref, token) claims), as if no worker had taken them yet."""
    published: list[list[tuple[str, str]]] = []
    return Relay(hub, lambda _topic, claims: published.append(claims)), published


@contextmanager
def relaying(relay: Relay) -> Iterator[None]:
    """Run relay passes every 0.1 s in a thread while the block runs (a second relay watching for expired work)."""
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.1):
            relay.run_once()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join()


def wait_until(check: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    """Poll `check` until it is truthy; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def agencies_cli(hub: Hub, *args: str) -> Result:
    """`tawasul-hub agencies ARGS` in this process against `hub`'s store and config (wide, for the tables)."""
    from broker.cli import app

    env = {
        "HUB_DATABASE_URL": hub.settings.database_url,
        "HUB_CONFIG_DIR": str(hub.settings.config_dir),
        "HUB_LOG_FORMAT": "console",
        "COLUMNS": "250",
    }
    return CliRunner().invoke(app, ["agencies", *args], env=env)
