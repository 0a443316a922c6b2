"""Transport security and start-up refusals: TLS in front, https to agencies, strong keys (M8, L10)."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError
from typer.testing import CliRunner

from adapters.rest import RestAdapter
from broker.cli import app
from broker.settings import PROJECT_ROOT
from tests.conftest import API_KEY
from tests.rest_agencies import rest_agency

runner = CliRunner()
COMPOSE = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
LONG = "k" * 32


def test_compose_serves_the_api_only_behind_a_tls_proxy() -> None:
    """M8: only the TLS proxy is published on the host; the API's plain HTTP stays on the compose network."""
    services = COMPOSE["services"]
    assert "ports" not in services["api"]
    proxy = services["proxy"]
    assert "443:443" in proxy["ports"]
    published = {p.split(":")[-1] for s in services.values() for p in s.get("ports", [])}
    assert "8700" not in published
    caddyfile = (PROJECT_ROOT / "deploy" / "caddy" / "Caddyfile").read_text(encoding="utf-8")
    assert "reverse_proxy api:8700" in caddyfile
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    assert "### Always behind TLS" in readme


@pytest.mark.parametrize("command", [["api"], ["serve"], ["worker"], ["scheduler"]])
def test_a_national_key_shorter_than_32_characters_is_refused_at_start_up(command: list[str]) -> None:
    """M8: HUB_NATIONAL_API_KEY=x does not serve; the refusal names the variable and the rule."""
    result = runner.invoke(
        app, command, env={"HUB_NATIONAL_API_KEY": "k" * 31, "HUB_LEASE_SECONDS": "120", "COLUMNS": "200"}
    )
    assert result.exit_code == 2
    assert "HUB_NATIONAL_API_KEY must be at least 32 random characters (it has 31)" in result.output


def test_the_test_suites_own_national_key_is_long_enough() -> None:
    """M8: the key the tests serve with passes the same rule."""
    assert len(API_KEY) >= 32


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        (
            {"HUB_WEBHOOK_URL": "https://tawasul.example.bh/hook"},
            "HUB_WEBHOOK_URL is set but HUB_WEBHOOK_SECRET is not",
        ),
        (
            {"HUB_WEBHOOK_URL": "http://tawasul.example.bh/hook", "HUB_WEBHOOK_SECRET": LONG},
            "HUB_WEBHOOK_URL must be https://",
        ),
        ({"HUB_KEY_PEPPER": "short"}, "HUB_KEY_PEPPER must be at least 32"),
    ],
)
def test_a_webhook_without_a_secret_or_on_plain_http_is_refused_at_start_up(env: dict[str, str], problem: str) -> None:
    """L10 and M8: a webhook URL without a secret (a silent loop before) or on plain http does not start."""
    result = runner.invoke(app, ["scheduler"], env={"HUB_NATIONAL_API_KEY": LONG, "COLUMNS": "200", **env})
    assert result.exit_code == 2
    assert problem in result.output


@pytest.mark.parametrize("field", ["base_url", "token_url"])
def test_an_agency_on_plain_http_is_refused_unless_marked_plain_http(field: str) -> None:
    """M8: agencies' base_url and token_url must be https unless the agency says plain_http (tests, demo)."""
    oauth = {
        "auth": {
            "type": "oauth2",
            "token_url": "http://sso.example.bh/token",
            "client_id": "hub",
            "client_secret_env": "SSO_SECRET",
        }
    }
    settings = {"base_url": "https://agency.example.bh"} | (oauth if field == "token_url" else {})
    base = "http://agency.example.bh" if field == "base_url" else "https://agency.example.bh"
    with pytest.raises(ValidationError, match="must be https"):
        RestAdapter.from_config(
            rest_agency(base, plain_http=False, **{k: v for k, v in settings.items() if k != "base_url"})
        )
    RestAdapter.from_config(
        rest_agency(base, plain_http=True, **{k: v for k, v in settings.items() if k != "base_url"})
    )


def test_a_short_previous_national_key_is_refused_at_start_up_too() -> None:
    """M8: the key being retired during a rotation obeys the same rule as the current one."""
    env = {"HUB_NATIONAL_API_KEY": LONG, "HUB_NATIONAL_API_KEY_PREVIOUS": "short", "HUB_LEASE_SECONDS": "120"}
    result = runner.invoke(app, ["api"], env={**env, "COLUMNS": "200"})
    assert result.exit_code == 2
    assert "HUB_NATIONAL_API_KEY_PREVIOUS must be at least 32 random characters" in result.output
