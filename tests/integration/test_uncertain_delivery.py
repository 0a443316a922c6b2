"""A worker killed mid-request to an agency that took the case: the next worker asks it, and adopts its ticket."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from adapters.testing.rest_agency import Profile, running_simulator
from broker import events
from broker.hub import Hub
from broker.intake import submit_cases
from broker.store.cases import get_case
from tests.conftest import make_case
from tests.integration.conftest import MakeHub
from tests.integration.procs import HubProcess, start
from tests.support import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq]

AGENCY = "ticketing-agency"
SECRET = "a-signing-secret-for-this-test-only"


def ticketing_config(hub: Hub, url: str) -> None:
    """Add a REST agency that can be asked for a case by our reference (a lookup) to the hub's config."""
    source = hub.settings.config_dir / "agencies.yaml"
    raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    raw["agencies"].append(
        {
            "id": AGENCY,
            "name_ar": "جهة بنظام تذاكر",
            "name_en": "Ticketing agency",
            "status": "onboarded",
            "adapter": {
                "kind": "rest",
                "base_url": f"{url}/{AGENCY}",
                "plain_http": True,
                "signing_secret_env": "TICKETING_SIGNING_SECRET",
                "ticket": "ticket_id",
                "body": {"fields": {"reference": "case.reference", "title": "case.subject"}},
                "lookup": {"path": "/cases?reference={reference}", "ticket": "items[0].ticket_id"},
            },
        }
    )
    raw["categories"].append({"id": "ticketed", "name_ar": "تذاكر", "name_en": "Ticketed", "agencies": [AGENCY]})
    source.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    hub.__dict__.pop("directory", None)


def test_a_worker_killed_mid_request_leaves_one_ticket_and_the_hub_holds_its_reference(
    rabbit_hub: MakeHub, procs: list[HubProcess], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TICKETING_SIGNING_SECRET", SECRET)
    with running_simulator() as (url, controller):
        controller.secrets[AGENCY] = SECRET
        controller.profiles[AGENCY] = Profile(reference_key="reference")
        # the agency takes the case and never answers; it does not recognise a repeated key either
        controller.set_mode(AGENCY, "timeout-after-create", times=1, hang_seconds=60, idempotency=False)
        hub = rabbit_hub()
        ticketing_config(hub, url)
        env = {"TICKETING_SIGNING_SECRET": SECRET}
        doomed = start(procs, hub, tmp_path, "worker", **env)
        start(procs, hub, tmp_path, "scheduler", **env)
        case = make_case(category="ticketed")
        [accepted] = submit_cases(hub.engine, hub.directory, [case], actor="national-system")

        wait_until(lambda: controller.tickets(AGENCY, case.reference), "the agency to open its ticket", timeout=60)
        doomed.kill()  # mid-request (well within HUB_DELIVERY_TIMEOUT): the agency has the case, the hub no answer
        start(procs, hub, tmp_path, "worker", **env)

        def delivered() -> bool:
            with hub.engine.connect() as conn:
                return get_case(conn, accepted.case_id).handoffs[0].state == "delivered"

        wait_until(delivered, "the next worker to ask the agency and adopt its ticket", timeout=90)
        [ticket] = controller.tickets(AGENCY, case.reference)
        with hub.engine.connect() as conn:
            [handoff] = get_case(conn, accepted.case_id).handoffs
            trail = [e for e in events.for_case(conn, accepted.case_id) if e.type == "handoff.delivered"]
        assert handoff.agency_reference == ticket
        assert [e.data.get("adopted") for e in trail] == [True]
        assert len(controller.requests(AGENCY)) == 1  # delivered once; the second worker only asked
