"""Refusals at the edge: a database that is down, control characters, blank text, clocks ahead (L3, issue 7)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select, text

from broker import agency_keys
from broker.api import create_app
from broker.hub import Hub
from broker.intake import submit_cases
from broker.store.cases import get_case
from broker.store.migrate import upgrade
from broker.store.tables import agency_messages, cases, events, handoffs, outbox
from tests.conftest import API_KEY, hub_settings, make_case
from tests.services import PG_ADMIN_URL, require
from tests.support import free_port

NATIONAL = {"X-API-Key": API_KEY}


def body(**overrides: Any) -> dict[str, Any]:
    return make_case().model_dump(mode="json", exclude_none=True) | overrides


def counts(hub: Hub) -> tuple[int, ...]:
    with hub.engine.connect() as conn:
        return tuple(
            conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (cases, handoffs, outbox, events, agency_messages)
        )


def _field_named(answer: Any, field: str) -> None:
    assert answer.status_code == 422, answer.text
    assert field in [e["field"] for e in answer.json()["errors"]], answer.json()


# --- L3: the database down or read-only: 503 with Retry-After, nothing written --------------------


def test_a_database_that_is_down_answers_503_with_retry_after(tmp_path: Path) -> None:
    """L3: no database server at all: intake and reads answer 503 with Retry-After, not 500."""
    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nowhere?connect_timeout=2"
    hub = Hub(hub_settings(url, tmp_path))
    client = TestClient(create_app(hub), raise_server_exceptions=False)
    for answer in (
        client.post("/v1/cases", json=body(), headers=NATIONAL),
        client.get("/v1/cases/TW-T-1", headers=NATIONAL),
    ):
        assert answer.status_code == 503, answer.text
        assert int(answer.headers["Retry-After"]) >= 1
    hub.engine.dispose()


@pytest.fixture
def read_only_hub(tmp_path: Path) -> Iterator[Hub]:
    """A hub on a scratch PostgreSQL database of its own that then turns read-only (a failed-over replica)."""
    require("127.0.0.1", 5432, "PostgreSQL")
    name = f"hub_edges_ro_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    hub = Hub(hub_settings(url, tmp_path))
    try:
        upgrade(hub.engine)
        submit_cases(hub.engine, hub.directory, [make_case()], actor="national-system")
        hub.engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
        yield hub
    finally:
        hub.engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_a_read_only_database_answers_503_with_retry_after_and_nothing_is_written(read_only_hub: Hub) -> None:
    """L3: intake on a read-only database (failover replica) is 503 with Retry-After; reads still work."""
    before = counts(read_only_hub)
    client = TestClient(create_app(read_only_hub), raise_server_exceptions=False)
    answer = client.post("/v1/cases", json=body(), headers=NATIONAL)
    assert answer.status_code == 503, answer.text
    assert int(answer.headers["Retry-After"]) >= 1
    assert counts(read_only_hub) == before


# --- L3: control characters refused with 422 naming the field --------------------------------------

CONTROL_FIELDS = [
    ("subject", lambda c: body(subject=f"انقطاع{c}المياه"), "subject"),
    ("description", lambda c: body(description=f"a{c}b"), "description"),
    ("citizen name", lambda c: body(citizen={"name": f"فاطمة{c}", "cpr": "850412345"}), "citizen.name"),
    ("location road", lambda c: body(location={"road": f"25{c}11"}), "location.road"),
    (
        "attachment file name",
        lambda c: body(attachments=[{"filename": f"a{c}.pdf", "content_type": "application/pdf", "size": 1}]),
        "attachments.0.filename",
    ),
]


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x07", "\x1b", "\x7f", "\x9b"], ids=repr)
@pytest.mark.parametrize(("what", "make", "field"), CONTROL_FIELDS, ids=[c[0] for c in CONTROL_FIELDS])
def test_control_characters_in_a_case_are_refused_naming_the_field(
    sqlite_hub: Hub, char: str, what: str, make: Any, field: str
) -> None:
    """L3: NUL and other control characters anywhere in a case are a 422 naming the field; nothing written."""
    before = counts(sqlite_hub)
    client = TestClient(create_app(sqlite_hub))
    _field_named(client.post("/v1/cases", json=make(char), headers=NATIONAL), field)
    assert counts(sqlite_hub) == before


def test_tabs_and_new_lines_are_text(sqlite_hub: Hub) -> None:
    """L3: tab, newline and carriage return stay allowed in free text."""
    client = TestClient(create_app(sqlite_hub))
    answer = client.post("/v1/cases", json=body(description="سطر\tأول\r\nسطر ثان\n"), headers=NATIONAL)
    assert answer.status_code == 201, answer.text


@pytest.fixture
def agency_handoff(any_hub: Hub) -> tuple[Hub, str, str]:
    """A handoff to Works and a key for Works."""
    [accepted] = submit_cases(any_hub.engine, any_hub.directory, [make_case()], actor="national-system")
    with any_hub.engine.connect() as conn:
        handoff = get_case(conn, accepted.case_id).handoffs[0]
    key = agency_keys.create(any_hub.engine, any_hub.directory, handoff.agency, created_by="t").key
    return any_hub, handoff.id, key


@pytest.mark.parametrize("char", ["\x00", "\x1b", "\x0c"], ids=repr)
def test_control_characters_in_an_agency_message_are_refused_naming_the_field(
    agency_handoff: tuple[Hub, str, str], char: str
) -> None:
    """L3: a NUL in an agency's text is a 422 naming `text` (it was a 500 on PostgreSQL); nothing written."""
    hub, handoff, key = agency_handoff
    before = counts(hub)
    client = TestClient(create_app(hub), raise_server_exceptions=False)
    answer = client.post(
        f"/agency/v1/handoffs/{handoff}/messages",
        json={"kind": "progress", "text": f"a{char}b"},
        headers={"X-API-Key": key},
    )
    _field_named(answer, "text")
    assert counts(hub) == before


# --- found by trying intake: blank text, a clock ahead ---------------------------------------------

BLANKS = [" ", "   \t\n", "\u00a0\u00a0", "\u2003\u2009", "\u3000", "\u200b", "\u202f\ufeff"]


@pytest.mark.parametrize("blank", BLANKS, ids=repr)
@pytest.mark.parametrize("field", ["subject", "description"])
def test_a_subject_or_description_of_only_white_space_is_refused_naming_it(
    sqlite_hub: Hub, field: str, blank: str
) -> None:
    """Issue 7: white space only (no-break and other Unicode spaces, zero-width too) is a 422 naming the field."""
    client = TestClient(create_app(sqlite_hub))
    _field_named(client.post("/v1/cases", json=body(**{field: blank}), headers=NATIONAL), field)


def test_a_submitted_at_more_than_five_minutes_ahead_is_refused_naming_it(sqlite_hub: Hub) -> None:
    """Issue 7: submitted_at more than 5 minutes ahead of the hub's clock is a 422 naming the field."""
    client = TestClient(create_app(sqlite_hub))
    ahead = datetime.now(UTC) + timedelta(minutes=6)
    _field_named(client.post("/v1/cases", json=body(submitted_at=ahead.isoformat()), headers=NATIONAL), "submitted_at")
    almost = (datetime.now(UTC) + timedelta(minutes=4)).astimezone(UTC).isoformat()
    assert client.post("/v1/cases", json=body(submitted_at=almost), headers=NATIONAL).status_code == 201
