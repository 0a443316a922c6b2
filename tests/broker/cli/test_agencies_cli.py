"""`tawasul-hub agencies keys` against a real SQLite store: issue once, list without secrets, revoke."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from broker import agency_keys
from broker.agency_keys import KeyRefused
from broker.cli import app
from broker.hub import Hub

runner = CliRunner()
AGENCY = "ministry-of-works"


def env(hub: Hub) -> dict[str, str]:
    return {"HUB_DATABASE_URL": hub.settings.database_url, "HUB_LOG_FORMAT": "console"}


def create_key(hub: Hub) -> str:
    result = runner.invoke(app, ["agencies", "keys", "create", AGENCY, "--by", "amina"], env=env(hub))
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def test_a_created_key_is_printed_once_with_a_warning_and_admits_its_agency(sqlite_hub: Hub) -> None:
    result = runner.invoke(app, ["agencies", "keys", "create", AGENCY, "--by", "amina"], env=env(sqlite_hub))
    assert result.exit_code == 0, result.output
    key = result.stdout.strip()
    assert "will not be shown again" in result.stderr
    assert "لن يُعرض مرة أخرى" in result.stderr
    assert agency_keys.authenticate(sqlite_hub.engine, sqlite_hub.directory, key) == AGENCY
    [info] = agency_keys.list_keys(sqlite_hub.engine)
    assert info.created_by == "amina"


def test_the_list_names_each_key_and_its_agency_but_never_the_secret(sqlite_hub: Hub) -> None:
    key = create_key(sqlite_hub)
    [info] = agency_keys.list_keys(sqlite_hub.engine)
    for args in (["agencies", "keys", "list"], ["agencies", "keys", "list", AGENCY]):
        result = runner.invoke(app, args, env={**env(sqlite_hub), "COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        assert info.id in result.output
        assert AGENCY in result.output
        assert key.rsplit("_", 1)[1] not in result.output
    other = runner.invoke(
        app, ["agencies", "keys", "list", "ministry-of-health"], env={**env(sqlite_hub), "COLUMNS": "200"}
    )
    assert info.id not in other.output


def test_a_revoked_key_no_longer_admits_its_agency(sqlite_hub: Hub) -> None:
    key = create_key(sqlite_hub)
    [info] = agency_keys.list_keys(sqlite_hub.engine)
    result = runner.invoke(app, ["agencies", "keys", "revoke", info.id], env=env(sqlite_hub))
    assert result.exit_code == 0, result.output
    assert f"revoked {info.id} of {AGENCY}" in result.output
    assert "from their next request on" in result.output
    with pytest.raises(KeyRefused, match="revoked"):
        agency_keys.authenticate(sqlite_hub.engine, sqlite_hub.directory, key)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["agencies", "keys", "create", "no-such-agency"], "AGENCY: unknown agency 'no-such-agency'"),
        (["agencies", "keys", "list", "no-such-agency"], "AGENCY: unknown agency 'no-such-agency'"),
        (["agencies", "keys", "revoke", "k_nope"], "KEY_ID: no API key 'k_nope'"),
    ],
)
def test_an_unknown_agency_or_key_is_refused_naming_the_argument(sqlite_hub: Hub, args: list[str], named: str) -> None:
    result = runner.invoke(app, args, env=env(sqlite_hub))
    assert result.exit_code == 2
    assert named in result.stderr
    assert agency_keys.list_keys(sqlite_hub.engine) == []
