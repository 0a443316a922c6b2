"""Agencies' API keys: HMAC-hashed at rest under a pepper, revocable at once, failed attempts throttled."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
import subprocess
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from psycopg import pq
from sqlalchemy import Connection, event, select
from structlog.testing import capture_logs

from broker import agency_keys
from broker.agency_keys import KeyRefused
from broker.api import create_app
from broker.errors import NotFound, Throttled
from broker.hub import Hub
from broker.store.engine import now, transaction
from broker.store.tables import agency_keys as table
from tests.conftest import hub_settings
from tests.integration.procs import HUB_COMMAND

AGENCY = "ministry-of-works"


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_new_key_admits_its_agency_and_only_its_hmac_is_stored(any_hub: Hub) -> None:
    hub = any_hub
    issued = agency_keys.create(hub.engine, hub.directory, AGENCY, created_by="amina")
    assert issued.key.startswith("tw_")
    assert agency_keys.authenticate(hub.engine, hub.directory, issued.key) == AGENCY
    with hub.engine.connect() as conn:
        row = conn.execute(select(table)).one()
    assert row.hash.startswith("hmac-sha256$")
    assert issued.key not in "".join(str(v) for v in row)
    assert row.lookup in issued.key
    assert row.created_by == "amina"


def test_a_key_check_on_postgresql_reads_outside_a_transaction_and_leaves_the_pool_transactional(
    pg_hub: Hub,
) -> None:
    """One SELECT, not BEGIN, SELECT and ROLLBACK: every agency call checks a key (issue 14)."""
    hub = pg_hub
    issued = agency_keys.create(hub.engine, hub.directory, AGENCY, created_by="amina")
    status: list[pq.TransactionStatus] = []

    def seen(conn: Connection, *_: object) -> None:
        status.append(conn.connection.dbapi_connection.info.transaction_status)  # type: ignore[union-attr]

    event.listen(hub.engine, "after_cursor_execute", seen)
    try:
        assert agency_keys.authenticate(hub.engine, hub.directory, issued.key) == AGENCY
    finally:
        event.remove(hub.engine, "after_cursor_execute", seen)
    assert status == [pq.TransactionStatus.IDLE]
    with pytest.raises(RuntimeError), transaction(hub.engine) as conn:  # the same pooled connection, back in
        conn.execute(table.delete())  # a transaction: undone with it
        raise RuntimeError
    assert agency_keys.authenticate(hub.engine, hub.directory, issued.key) == AGENCY


def test_a_key_for_an_unknown_agency_is_not_issued(any_hub: Hub) -> None:
    with pytest.raises(NotFound, match="no-such-agency"):
        agency_keys.create(any_hub.engine, any_hub.directory, "no-such-agency", created_by="amina")
    assert agency_keys.list_keys(any_hub.engine) == []


def _refusals(key: str) -> list[tuple[str, str]]:
    lookup = key.split("_")[1]
    return [
        ("", "malformed"),
        ("tw_only-two", "malformed"),
        ("sk_" + key[3:], "malformed"),
        (f"tw_{lookup}_{'0' * 48}", "wrong API key"),
        (f"tw_000000000000_{key.split('_')[2]}", "wrong API key"),
        (key + "x", "wrong API key"),
    ]


def test_a_malformed_or_wrong_key_is_refused_with_a_reason(any_hub: Hub) -> None:
    hub = any_hub
    issued = agency_keys.create(hub.engine, hub.directory, AGENCY, created_by="amina")
    for key, reason in _refusals(issued.key):
        with pytest.raises(KeyRefused, match=reason):
            agency_keys.authenticate(hub.engine, hub.directory, key)


def test_a_revoked_key_is_refused_at_once_in_the_process_that_revoked_it(any_hub: Hub) -> None:
    hub = any_hub
    issued = agency_keys.create(hub.engine, hub.directory, AGENCY, created_by="amina")
    assert agency_keys.authenticate(hub.engine, hub.directory, issued.key) == AGENCY
    info = agency_keys.revoke(hub.engine, issued.id)
    assert info.revoked_at is not None
    with pytest.raises(KeyRefused, match=f"{issued.id} was revoked"):
        agency_keys.authenticate(hub.engine, hub.directory, issued.key)


def test_a_key_whose_agency_left_the_directory_is_refused(any_hub: Hub) -> None:
    hub = any_hub
    issued = agency_keys.create(hub.engine, hub.directory, AGENCY, created_by="amina")
    assert agency_keys.authenticate(hub.engine, hub.directory, issued.key) == AGENCY
    smaller = dataclasses.replace(
        hub.directory, agencies={k: v for k, v in hub.directory.agencies.items() if k != AGENCY}
    )
    with pytest.raises(KeyRefused, match=f"agency '{AGENCY}' is no longer in the directory"):
        agency_keys.authenticate(hub.engine, smaller, issued.key)


def test_a_key_is_revoked_by_id_or_lookup_and_revoking_again_keeps_the_first_time(any_hub: Hub) -> None:
    hub = any_hub
    issued = agency_keys.create(hub.engine, hub.directory, AGENCY, created_by="amina")
    first = agency_keys.revoke(hub.engine, issued.id)
    again = agency_keys.revoke(hub.engine, first.lookup)
    assert again.revoked_at == first.revoked_at
    with pytest.raises(NotFound, match="k_nope"):
        agency_keys.revoke(hub.engine, "k_nope")


def test_keys_are_listed_per_agency_without_their_secret(any_hub: Hub) -> None:
    hub = any_hub
    mine = agency_keys.create(hub.engine, hub.directory, AGENCY, created_by="amina")
    agency_keys.create(hub.engine, hub.directory, "ministry-of-health", created_by="amina")
    listed = agency_keys.list_keys(hub.engine, AGENCY)
    assert [k.id for k in listed] == [mine.id]
    assert len(agency_keys.list_keys(hub.engine)) == 2


def test_issuing_revoking_and_refusing_are_logged_without_the_secret(sqlite_hub: Hub) -> None:
    hub = sqlite_hub
    with capture_logs() as logs:
        issued = agency_keys.create(hub.engine, hub.directory, AGENCY, created_by="amina")
        agency_keys.revoke(hub.engine, issued.id)
        with pytest.raises(KeyRefused):
            agency_keys.authenticate(hub.engine, hub.directory, issued.key)
    logged = [e["event"] for e in logs]  # refusals are sampled per window, so an earlier test may hold this one's line
    assert logged and set(logged) <= {"agency_key.created", "agency_key.revoked", "agency_key.refused"}
    assert issued.key.rsplit("_", 1)[1] not in repr(logs)


# --- H4: cheap, constant-time checks; failed attempts throttled; old argon2 keys kept working ----


def test_the_stored_hash_is_an_hmac_under_the_pepper_and_a_new_pepper_refuses_old_keys(
    sqlite_hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """H4: keys are stored as HMAC-SHA256(pepper from HUB_KEY_PEPPER, key), not a slow hash."""
    hub = sqlite_hub
    monkeypatch.setenv("HUB_KEY_PEPPER", "p" * 40)
    issued = agency_keys.create(hub.engine, hub.directory, AGENCY, created_by="amina")
    with hub.engine.connect() as conn:
        stored = conn.execute(select(table.c.hash)).scalar_one()
    digest = hmac.new(b"p" * 40, issued.key.encode(), hashlib.sha256).hexdigest()
    assert stored.startswith("hmac-sha256$") and stored.endswith("$" + digest)
    assert agency_keys.authenticate(hub.engine, hub.directory, issued.key) == AGENCY
    monkeypatch.setenv("HUB_KEY_PEPPER", "q" * 40)
    with pytest.raises(KeyRefused, match="wrong API key"):
        agency_keys.authenticate(hub.engine, hub.directory, issued.key)


def test_an_unknown_lookup_and_a_wrong_secret_run_the_same_single_hmac_and_comparison(
    any_hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """H4: an unknown key and a known key with a wrong secret cost the same (no timing oracle, no argon2)."""
    hub = any_hub
    issued = agency_keys.create(hub.engine, hub.directory, AGENCY, created_by="amina")
    lookup = issued.key.split("_")[1]
    calls: list[tuple[str, int, int]] = []
    real_hashed, real_compare = agency_keys.hashed, hmac.compare_digest

    def hashed(key: str) -> str:
        calls.append(("hmac", len(key), 0))
        return real_hashed(key)

    def compare(a: bytes, b: bytes) -> bool:
        calls.append(("compare", len(a), len(b)))
        return real_compare(a, b)

    class NoArgon2:
        def verify(self, *_: object) -> bool:
            raise AssertionError("argon2 must not run for HMAC keys")

    monkeypatch.setattr(agency_keys, "hashed", hashed)
    monkeypatch.setattr(agency_keys.hmac, "compare_digest", compare)
    monkeypatch.setattr(agency_keys, "_legacy", NoArgon2())
    traces = []
    for key in (f"tw_{lookup}_{'0' * 48}", f"tw_{'0' * 12}_{'0' * 48}"):
        calls.clear()
        with pytest.raises(KeyRefused, match=r"^wrong API key$"):
            agency_keys.authenticate(hub.engine, hub.directory, key)
        traces.append(list(calls))
    assert traces[0] == traces[1]
    assert [c[0] for c in traces[0]] == ["hmac", "compare"]
    assert traces[0][1][1] == traces[0][1][2]


def test_wrong_keys_from_one_address_are_throttled_with_a_retry_after_and_others_are_not(
    sqlite_hub: Hub,
) -> None:
    """H4: failed attempts per client address are limited: past the burst, Throttled (429) with a wait."""
    hub = sqlite_hub
    clock = Clock()
    guard = agency_keys.KeyGuard(per_minute=10, burst=5, clock=clock)
    issued = agency_keys.create(hub.engine, hub.directory, AGENCY, created_by="amina")
    for n in range(5):
        with pytest.raises(KeyRefused):
            agency_keys.authenticate(hub.engine, hub.directory, f"tw_{n:012d}_{'0' * 48}", guard=guard, address="a")
    with pytest.raises(Throttled) as throttled:
        agency_keys.authenticate(hub.engine, hub.directory, issued.key, guard=guard, address="a")
    assert throttled.value.retry_after == pytest.approx(6.0)
    assert agency_keys.authenticate(hub.engine, hub.directory, issued.key, guard=guard, address="b") == AGENCY
    clock.now += 6.0
    assert agency_keys.authenticate(hub.engine, hub.directory, issued.key, guard=guard, address="a") == AGENCY


def test_wrong_secrets_for_one_lookup_are_throttled_but_never_lock_out_the_right_key(sqlite_hub: Hub) -> None:
    """H4: failed attempts per key lookup are limited (from any address); the agency's own key still works."""
    hub = sqlite_hub
    guard = agency_keys.KeyGuard(per_minute=10, burst=3, clock=Clock())
    issued = agency_keys.create(hub.engine, hub.directory, AGENCY, created_by="amina")
    wrong = issued.key[:-4] + "0000"
    for n in range(3):
        with pytest.raises(KeyRefused):
            agency_keys.authenticate(hub.engine, hub.directory, wrong, guard=guard, address=f"10.0.0.{n}")
    with pytest.raises(Throttled, match="for this lookup"):
        agency_keys.authenticate(hub.engine, hub.directory, wrong, guard=guard, address="10.0.0.9")
    assert agency_keys.authenticate(hub.engine, hub.directory, issued.key, guard=guard, address="10.0.0.9") == AGENCY


def _legacy_key(hub: Hub, hasher: PasswordHasher) -> str:
    """A key as issued before HMAC: its row holds an argon2 hash."""
    key = f"tw_{'a' * 12}_{'b' * 48}"
    with transaction(hub.engine) as conn:
        conn.execute(
            table.insert().values(
                id="k_legacy",
                agency_id=AGENCY,
                lookup="a" * 12,
                hash=hasher.hash(key),
                created_at=now(),
                created_by="x",
            )
        )
    return key


def test_a_key_issued_with_argon2_keeps_working_and_is_rehashed_on_first_use(any_hub: Hub) -> None:
    """H4: existing keys keep working; the first success stores the HMAC, so argon2 runs once per key."""
    hub = any_hub
    key = _legacy_key(hub, PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    assert agency_keys.authenticate(hub.engine, hub.directory, key) == AGENCY
    with hub.engine.connect() as conn:
        assert conn.execute(select(table.c.hash)).scalar_one() == agency_keys.hashed(key)
    assert agency_keys.authenticate(hub.engine, hub.directory, key) == AGENCY


def test_wrong_secrets_for_an_argon2_key_are_throttled_before_hashing(
    sqlite_hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """H4: while a key is not re-hashed yet, its lookup's failures stop argon2 runs (429 without hashing)."""
    hub = sqlite_hub
    hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    key = _legacy_key(hub, hasher)
    runs: list[int] = []

    class Counted:
        def verify(self, hashed: str, password: str) -> bool:
            runs.append(1)
            return hasher.verify(hashed, password)

    monkeypatch.setattr(agency_keys, "_legacy", Counted())
    guard = agency_keys.KeyGuard(per_minute=10, burst=2, clock=Clock())
    for n in range(2):
        with pytest.raises(KeyRefused):
            agency_keys.authenticate(hub.engine, hub.directory, key[:-1] + "0", guard=guard, address=f"h{n}")
    for n in range(5):
        with pytest.raises(Throttled):
            agency_keys.authenticate(hub.engine, hub.directory, key[:-1] + "0", guard=guard, address=f"i{n}")
    assert len(runs) == 2


def test_refusals_are_logged_sampled_with_a_count_of_those_left_out(sqlite_hub: Hub) -> None:
    """H4: a flood of wrong keys logs one line per reason and window, then how many it left out."""
    hub = sqlite_hub
    clock = Clock()
    guard = agency_keys.KeyGuard(per_minute=1000, burst=1000, clock=clock, refusals=agency_keys.RefusalLog(10, clock))
    with capture_logs() as logs:
        for n in range(50):
            with pytest.raises(KeyRefused):
                agency_keys.authenticate(hub.engine, hub.directory, f"tw_{n:012d}_{'0' * 48}", guard=guard, address="a")
        clock.now += 10
        with pytest.raises(KeyRefused):
            agency_keys.authenticate(hub.engine, hub.directory, f"tw_{'9' * 12}_{'0' * 48}", guard=guard, address="a")
    refused = [e for e in logs if e["event"] == "agency_key.refused"]
    assert [e["suppressed"] for e in refused] == [0, 49]


def test_the_agency_api_answers_429_with_retry_after_once_an_address_sent_too_many_wrong_keys(
    sqlite_hub: Hub,
) -> None:
    """H4: over HTTP, the throttled address gets 429 and Retry-After, even with a right key."""
    hub = sqlite_hub
    issued = agency_keys.create(hub.engine, hub.directory, AGENCY, created_by="amina")
    client = TestClient(create_app(hub))
    statuses = [
        client.get("/agency/v1/handoffs", headers={"X-API-Key": issued.key[:-4] + "0000"}).status_code
        for _ in range(hub.settings.key_failures_burst)
    ]
    assert set(statuses) == {401}
    answer = client.get("/agency/v1/handoffs", headers={"X-API-Key": issued.key})
    assert answer.status_code == 429
    assert int(answer.headers["Retry-After"]) >= 1


# --- L1: revocation reaches every process at once -------------------------------------------------


def test_a_revoked_key_is_refused_by_every_api_process_at_once_after_the_cli_revokes_it(
    pg_hub: Hub, tmp_path: Path
) -> None:
    """L1: two API apps on PostgreSQL refuse a key the CLI (another process) revoked, from their next request."""
    issued = agency_keys.create(pg_hub.engine, pg_hub.directory, AGENCY, created_by="amina")
    others = [Hub(hub_settings(pg_hub.settings.database_url, tmp_path)) for _ in range(2)]
    clients = [TestClient(create_app(h)) for h in others]
    headers = {"X-API-Key": issued.key}
    assert [c.get("/agency/v1/handoffs", headers=headers).status_code for c in clients] == [200, 200]
    revoked = subprocess.run(
        [HUB_COMMAND, "agencies", "keys", "revoke", issued.id],
        env={**os.environ, "HUB_DATABASE_URL": pg_hub.settings.database_url, "HUB_LOG_FORMAT": "console"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert revoked.returncode == 0, revoked.stderr
    answers = [c.get("/agency/v1/handoffs", headers=headers) for c in clients]
    assert [a.status_code for a in answers] == [401, 401]
    assert all("was revoked" in a.json()["detail"] for a in answers)
    for h in others:
        h.engine.dispose()
