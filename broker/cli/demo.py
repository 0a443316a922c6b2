"""`tawasul-hub demo`: the whole hub on embedded defaults, fed the bundled sample cases."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import threading
import time
from collections import Counter
from typing import TYPE_CHECKING

import requests
import typer
import uvicorn
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from adapters.testing.email_agency import start_email_agency
from adapters.testing.rest_agency import DEMO_PORT, Controller, Simulator, simulate_agencies, start_simulator
from broker import agency_keys, followup, runner
from broker.api import create_app
from broker.errors import Conflict
from broker.hub import Hub, set_hub
from broker.logging import configure_logging
from broker.settings import PROJECT_ROOT, Settings
from broker.store.migrate import upgrade
from broker.store.tables import handoffs

if TYPE_CHECKING:
    from adapters.testing.soap_agency import Simulator as SoapSimulator

out = Console()
SAMPLES = PROJECT_ROOT / "config" / "samples" / "cases.jsonl"


def _settings() -> Settings:
    """Embedded defaults in a fresh demo database, and a key made up for this run if none is set."""
    overrides: dict[str, object] = {}
    if "HUB_DATABASE_URL" not in os.environ:
        db = PROJECT_ROOT / "var" / "demo.db"
        for suffix in ("", "-wal", "-shm"):
            db.with_name(db.name + suffix).unlink(missing_ok=True)
        overrides["database_url"] = f"sqlite:///{db}"
    if "HUB_NATIONAL_API_KEY" not in os.environ:
        overrides["national_api_key"] = secrets.token_urlsafe(24)
    if "HUB_CONSOLE_SECURE_COOKIES" not in os.environ:
        overrides["console_secure_cookies"] = False  # the demo's console is plain http on localhost
    if "HUB_REPLY_SECRET" not in os.environ:
        overrides["reply_secret"] = secrets.token_urlsafe(24)  # signs the reply tokens in the e-mail agency's mail
    if "HUB_LOG_LEVEL" not in os.environ:
        overrides["log_level"] = "WARNING"  # the tables tell the story; a line per case would drown them
    return Settings(**overrides)  # type: ignore[arg-type]


def run_demo(port: int, once: bool) -> None:
    """Start everything, submit the samples over HTTP, wait for delivery and answers, print the queue."""
    hub = Hub(_settings())
    configure_logging(hub.settings.log_format, hub.settings.log_level)
    set_hub(hub)
    upgrade(hub.engine)
    console_password = demo_administrator(hub)
    base = f"http://127.0.0.1:{port}"
    soap_simulator = start_soap_simulator()  # before the directory loads: the SOAP agencies' WSDLs point at it
    spool = PROJECT_ROOT / "var" / f"email-spool-{os.getpid()}"
    mail_agency = start_email_agency(spool)  # plays the e-mail agency: its mail server and staff who answer
    simulator = start_simulator_for(hub, base)  # plays the connected (REST) agencies
    if soap_simulator is not None:
        play_soap_agencies(hub, soap_simulator)
    d = hub.directory
    out.print(f"[bold]Tawasul hub[/bold]: {len(d.agencies)} agencies, {len(d.categories)} categories loaded")
    worker = runner.start_worker_thread(hub)
    stop = runner.start_scheduler_thread(hub)
    server = uvicorn.Server(
        uvicorn.Config(create_app(hub), host="127.0.0.1", port=port, log_level="warning", log_config=None)
    )
    threading.Thread(target=server.run, name="hub-api", daemon=True).start()
    _wait_for(lambda: requests.get(f"{base}/healthz", timeout=1).ok, "the API to start")
    key = hub.settings.national_api_key.get_secret_value()  # type: ignore[union-attr]
    _submit_samples(base, key)
    _wait_for(lambda: _count(hub, ("pending", "delivering")) == 0, "every handoff to be delivered")
    out.print("waiting for the connected agencies (the simulator) to acknowledge and answer …")
    _wait_for(
        lambda: _count(hub, ("delivered", "acknowledged"), adapter=("rest", "soap", "email")) == 0,
        "the agencies' answers",
    )
    _show(hub)
    out.print(f"API docs: {base}/docs   national-system key for this run: {key}")
    out.print(f"Console / لوحة المكتب المركزي: {base}/console   user: admin   password: {console_password}")
    out.print("Try: tawasul-hub followup list   (with HUB_DATABASE_URL=sqlite:///var/demo.db)")
    try:
        while not once:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    server.should_exit = True
    if simulator is not None:
        simulator.stop()
    if soap_simulator is not None:
        soap_simulator.stop()
    if mail_agency is not None:
        mail_agency.stop()
        shutil.rmtree(spool, ignore_errors=True)
    stop.set()
    worker.stop(in_sighandler=False)


def demo_administrator(hub: Hub) -> str:
    """An administrator `admin` for the console with a password made up for this run (or its new one)."""
    from broker.console import accounts
    from broker.console.permissions import Role

    password = secrets.token_urlsafe(12)
    try:
        accounts.create_user(hub.engine, "admin", Role.admin, password, display_name="Demo administrator", actor="demo")
    except Conflict:  # a demo on a kept database (HUB_DATABASE_URL set): give it a fresh password
        accounts.reset_password(hub.engine, "admin", password, actor="demo")
    return password


def start_simulator_for(hub: Hub, hub_url: str, *, answer_after: float = 5.0) -> Simulator | None:
    """Play every REST agency of `hub` (for the demo); None when HUB_SIMULATOR_URL points elsewhere.

    Polled agencies change their status after `answer_after` seconds; the others acknowledge and
    answer through the hub's agency API with a key issued here for this run.
    """
    if "HUB_SIMULATOR_URL" in os.environ:
        return None
    try:
        sim = start_simulator(DEMO_PORT, controller=Controller(hub_url=hub_url))
    except OSError:  # another demo has the port: take any free one, and tell the config where it is
        sim = start_simulator(0, controller=Controller(hub_url=hub_url))
    os.environ["HUB_SIMULATOR_URL"] = sim.url  # read when the agency directory loads, just after
    for agency_id in simulate_agencies(hub.directory.agencies.values(), sim.controller):
        push = not hub.directory.adapter(agency_id).capabilities.status_poll
        if push:
            issued = agency_keys.create(hub.engine, hub.directory, agency_id, created_by="demo")
            sim.controller.hub_keys[agency_id] = issued.key
        sim.controller.set_mode(agency_id, "ok", answer_after=answer_after, push=push)
    return sim


def start_soap_simulator() -> SoapSimulator | None:
    """The SOAP agency simulator for the demo; None when HUB_SOAP_SIMULATOR_URL points elsewhere."""
    if "HUB_SOAP_SIMULATOR_URL" in os.environ:
        return None
    from adapters.testing import soap_agency

    try:
        sim = soap_agency.start_simulator(soap_agency.DEMO_PORT)
    except OSError:  # another demo has the port: take any free one, and tell the config where it is
        sim = soap_agency.start_simulator(0)
    os.environ["HUB_SOAP_SIMULATOR_URL"] = sim.url  # read when the agency directory loads
    return sim


def play_soap_agencies(hub: Hub, sim: SoapSimulator, *, answer_after: float = 5.0) -> list[str]:
    """Play every SOAP agency of `hub`: its WS-Security checked, each case acknowledged and answered later."""
    from adapters.testing import soap_agency

    played = soap_agency.simulate_agencies(hub.directory.agencies.values(), sim.controller)
    for agency_id in played:
        sim.controller.set_mode(agency_id, "ok", answer_after=answer_after)
    return played


def _submit_samples(base: str, key: str) -> None:
    lines = SAMPLES.read_text(encoding="utf-8").splitlines()
    languages: Counter[str] = Counter()
    with requests.Session() as http:
        http.headers.update({"X-API-Key": key, "Content-Type": "application/json"})
        for line in lines:
            http.post(f"{base}/v1/cases", data=line.encode(), timeout=10).raise_for_status()
            languages[json.loads(line)["language"]] += 1
    out.print(f"submitted {len(lines)} sample cases ({languages['ar']} Arabic, {languages['en']} English)")


def _count(hub: Hub, states: tuple[str, ...], adapter: tuple[str, ...] = ()) -> int:
    query = select(func.count()).where(handoffs.c.state.in_(states))
    if adapter:
        query = query.where(handoffs.c.adapter.in_(adapter))
    with hub.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def _show(hub: Hub) -> None:
    with hub.engine.connect() as conn:
        by_state = conn.execute(
            select(handoffs.c.adapter, handoffs.c.state, func.count()).group_by(handoffs.c.adapter, handoffs.c.state)
        ).all()
        queue = followup.queue(conn, limit=15)
        total = len(followup.queue(conn, limit=100000))
    table = Table(title="Handoffs by adapter and state")
    for col in ("adapter", "state", "count"):
        table.add_column(col)
    for adapter, state, count in by_state:
        table.add_row(adapter, state, str(count))
    out.print(table)
    q = Table(title=f"Follow-up queue / قائمة المتابعة (first {len(queue)} of {total})")
    for col in ("handoff", "reference", "agency", "subject"):
        q.add_column(col, overflow="fold")
    for item in queue:
        q.add_row(item.handoff, item.reference, item.agency, item.subject)
    out.print(q)


def _wait_for(check: object, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    out.print(f"[red]gave up waiting for {what} after {timeout:.0f} s[/red]")
    raise typer.Exit(1)
