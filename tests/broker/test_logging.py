"""Personal data never reaches a log line, whatever shape it arrives in."""

from __future__ import annotations

import json
import logging
import logging.config
import threading

import pytest
import requests
import structlog
import uvicorn
import uvicorn.config

from broker import runner
from broker.api import create_app
from broker.hub import Hub
from broker.logging import configure_logging, redact_text
from tests.support import free_port, wait_until

TEXTS = [
    ("رقمي الشخصي 850412345 أرجو الاتصال", "رقمي الشخصي [cpr] أرجو الاتصال"),
    ("write to fatima@example.bh please", "write to [email] please"),
    ("call +97333123456 or 33123456", "call [phone] or [phone]"),
    ("call +973 3312 3456", "call [phone]"),
    ("block 525 road 2511 building 1123", "block 525 road 2511 building 1123"),
    ("TW-2026-004217", "TW-2026-004217"),
]


@pytest.mark.parametrize(("text", "expected"), TEXTS)
def test_personal_numbers_and_addresses_are_masked_inside_free_text(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_a_json_log_line_carries_ids_but_no_personal_data(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("json", "INFO")
    log = structlog.get_logger("test")
    log.info(
        "case.accepted",
        case="c_01J",
        handoff="h_01J",
        cpr="850412345",
        citizen={"name": "فاطمة علي", "mobile": "+97333123456"},
        note="اتصلت فاطمة من 33123456 وبريدها fatima@example.bh",
    )
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["case"] == "c_01J" and line["handoff"] == "h_01J"
    assert line["cpr"] == "[redacted]" and line["citizen"] == "[redacted]"
    assert "33123456" not in line["note"] and "fatima@" not in line["note"]
    assert "اتصلت فاطمة" in line["note"]  # Arabic stays readable, not \\u-escaped


SECRET_TEXT = "bad citizen cpr=850412345 email=fatima@example.bh mobile=+97333123456 الرقم850412345"


def _no_personal_data(output: str) -> None:
    for value in ("850412345", "fatima@example.bh", "97333123456", "33123456"):
        assert value not in output


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_a_logged_traceback_is_redacted(fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    """M4: log.exception's traceback text passes the redactor (rendered before redaction)."""
    configure_logging(fmt, "INFO")
    try:
        raise ValueError(SECRET_TEXT)
    except ValueError:
        structlog.get_logger("test").exception("handoff.adapter_crashed", handoff="h_01J")
    err = capsys.readouterr().err
    assert "ValueError" in err and "h_01J" in err
    _no_personal_data(err)


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_stdlib_and_uvicorn_loggers_are_redacted_even_after_uvicorns_own_config(
    fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """M4: uvicorn's loggers (with their own handlers installed first) and stdlib tracebacks are redacted."""
    logging.config.dictConfig(uvicorn.config.LOGGING_CONFIG)  # as uvicorn.run does by default
    configure_logging(fmt, "INFO")
    try:
        raise RuntimeError(SECRET_TEXT)
    except RuntimeError:
        logging.getLogger("uvicorn.error").error("Exception in ASGI application %s", SECRET_TEXT, exc_info=True)
        logging.getLogger("sqlalchemy.engine").warning("failed: %s", SECRET_TEXT, exc_info=True)
    err = capsys.readouterr().err
    assert "Exception in ASGI application" in err and "RuntimeError" in err
    _no_personal_data(err)


def test_the_hub_runs_uvicorn_without_its_own_log_config(monkeypatch: pytest.MonkeyPatch, sqlite_hub: Hub) -> None:
    """M4: runner starts uvicorn with log_config=None, so its loggers reach the redacting handler."""
    calls: list[dict[str, object]] = []
    monkeypatch.setattr(runner.uvicorn, "run", lambda *a, **kw: calls.append(kw))
    runner.run_api(sqlite_hub, "127.0.0.1", 0)
    assert calls and calls[0]["log_config"] is None


def test_an_unhandled_error_in_the_served_api_is_logged_redacted(
    sqlite_hub: Hub, capsys: pytest.CaptureFixture[str]
) -> None:
    """M4: uvicorn's "Exception in ASGI application" traceback from a live server is redacted."""
    configure_logging("json", "INFO")
    app = create_app(sqlite_hub)

    def boom() -> None:
        raise ValueError(SECRET_TEXT)

    app.add_api_route("/boom", boom)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, "uvicorn to start")
        assert requests.get(f"http://127.0.0.1:{port}/boom", timeout=10).status_code == 500
    finally:
        server.should_exit = True
        thread.join(5)
    err = capsys.readouterr().err
    assert "ValueError" in err
    _no_personal_data(err)
