"""Agencies' API keys: hashed at rest, revocable, and trusted from memory only for a bounded time."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select
from structlog.testing import capture_logs

from broker import agency_keys
from broker.agency_keys import CACHE_SECONDS, KeyRefused, VerifiedKeys
from broker.errors import NotFound
from broker.hub import Hub
from broker.store.tables import agency_keys as table

AGENCY = "ministry-of-works"


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_new_key_admits_its_agency_and_only_its_argon2_hash_is_stored(any_hub: Hub) -> None:
    hub = any_hub
    issued = agency_keys.create(hub.engine, hub.directory, AGENCY, created_by="amina")
    assert issued.key.startswith("tw_")
    assert agency_keys.authenticate(hub.engine, hub.directory, issued.key, VerifiedKeys()) == AGENCY
    with hub.engine.connect() as conn:
        row = conn.execute(select(table)).one()
    assert row.hash.startswith("$argon2id$")
    assert issued.key not in "".join(str(v) for v in row)
    assert row.lookup in issued.key
    assert row.created_by == "amina"


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
            agency_keys.authenticate(hub.engine, hub.directory, key, VerifiedKeys())


def test_a_revoked_key_is_refused_at_once_in_the_process_that_revoked_it(any_hub: Hub) -> None:
    hub = any_hub
    cache = VerifiedKeys()
    issued = agency_keys.create(hub.engine, hub.directory, AGENCY, created_by="amina")
    assert agency_keys.authenticate(hub.engine, hub.directory, issued.key, cache) == AGENCY
    info = agency_keys.revoke(hub.engine, issued.id, cache)
    assert info.revoked_at is not None
    with pytest.raises(KeyRefused, match=f"{issued.id} was revoked"):
        agency_keys.authenticate(hub.engine, hub.directory, issued.key, cache)


def test_another_process_trusts_a_revoked_key_no_longer_than_the_cache_bound(any_hub: Hub) -> None:
    hub = any_hub
    clock = Clock()
    api_process = VerifiedKeys(clock=clock)
    issued = agency_keys.create(hub.engine, hub.directory, AGENCY, created_by="amina")
    assert agency_keys.authenticate(hub.engine, hub.directory, issued.key, api_process) == AGENCY

    agency_keys.revoke(hub.engine, issued.id, VerifiedKeys())  # the CLI, with a cache of its own
    clock.now += CACHE_SECONDS - 1
    assert agency_keys.authenticate(hub.engine, hub.directory, issued.key, api_process) == AGENCY
    clock.now += 1
    with pytest.raises(KeyRefused, match="revoked"):
        agency_keys.authenticate(hub.engine, hub.directory, issued.key, api_process)


def test_a_key_whose_agency_left_the_directory_is_refused_even_from_the_cache(any_hub: Hub) -> None:
    hub = any_hub
    cache = VerifiedKeys()
    issued = agency_keys.create(hub.engine, hub.directory, AGENCY, created_by="amina")
    assert agency_keys.authenticate(hub.engine, hub.directory, issued.key, cache) == AGENCY
    smaller = dataclasses.replace(
        hub.directory, agencies={k: v for k, v in hub.directory.agencies.items() if k != AGENCY}
    )
    with pytest.raises(KeyRefused, match=f"agency '{AGENCY}' is no longer in the directory"):
        agency_keys.authenticate(hub.engine, smaller, issued.key, cache)


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


def test_the_cache_stays_within_its_size_by_dropping_the_oldest_entry() -> None:
    cache = VerifiedKeys(size=2, clock=Clock())
    for n in range(3):
        cache.put(f"key-{n}", f"k_{n}", "agency")
    assert cache.get("key-0") is None
    assert cache.get("key-1") == cache.get("key-2") == "agency"


def test_issuing_revoking_and_refusing_are_logged_without_the_secret(sqlite_hub: Hub) -> None:
    hub = sqlite_hub
    with capture_logs() as logs:
        issued = agency_keys.create(hub.engine, hub.directory, AGENCY, created_by="amina")
        agency_keys.revoke(hub.engine, issued.id)
        with pytest.raises(KeyRefused):
            agency_keys.authenticate(hub.engine, hub.directory, issued.key, VerifiedKeys())
    assert [e["event"] for e in logs] == ["agency_key.created", "agency_key.revoked", "agency_key.refused"]
    assert issued.key.rsplit("_", 1)[1] not in repr(logs)
