"""`tawasul-hub users`: create, disable and reset the console's staff accounts."""

from __future__ import annotations

import re

from sqlalchemy import select
from typer.testing import CliRunner

from broker.cli import app
from broker.console import accounts
from broker.hub import Hub
from broker.store.tables import staff_audit, staff_users


def _env(hub: Hub) -> dict[str, str]:
    return {"HUB_DATABASE_URL": hub.settings.database_url, "HUB_LOG_FORMAT": "console"}


def test_an_account_is_created_with_a_password_typed_twice_and_hashed_with_argon2(sqlite_hub: Hub) -> None:
    done = CliRunner().invoke(
        app,
        ["users", "create", "amina", "--role", "officer", "--name", "أمينة"],
        env=_env(sqlite_hub),
        input="a long enough secret\na long enough secret\n",
    )
    assert done.exit_code == 0, done.output
    assert "a long enough secret" not in done.output
    with sqlite_hub.engine.connect() as conn:
        row = conn.execute(select(staff_users)).one()
        trail = conn.execute(select(staff_audit.c.action, staff_audit.c.target)).all()
    assert (row.username, row.display_name, row.role) == ("amina", "أمينة", "officer")
    assert row.password_hash.startswith("$argon2id$")
    assert [tuple(t) for t in trail] == [("user.created", "amina")]
    accounts.sign_in(sqlite_hub.engine, "amina", "a long enough secret", "127.0.0.1")


def test_a_generated_password_is_printed_once_and_works(sqlite_hub: Hub) -> None:
    command = ["users", "create", "noor", "--role", "reviewer", "--generate"]
    done = CliRunner().invoke(app, command, env=_env(sqlite_hub))
    assert done.exit_code == 0, done.output
    password = re.search(r"password: (\S+)", done.output).group(1)  # type: ignore[union-attr]
    assert accounts.sign_in(sqlite_hub.engine, "noor", password, "127.0.0.1").user.role == "reviewer"


def test_disable_and_reset_password(sqlite_hub: Hub) -> None:
    runner, env = CliRunner(), _env(sqlite_hub)
    assert runner.invoke(app, ["users", "create", "root", "--role", "admin", "--generate"], env=env).exit_code == 0
    assert runner.invoke(app, ["users", "disable", "root"], env=env).exit_code == 0
    reset = runner.invoke(app, ["users", "reset-password", "root", "--generate"], env=env)
    assert reset.exit_code == 0, reset.output
    password = re.search(r"password: (\S+)", reset.output).group(1)  # type: ignore[union-attr]
    accounts.sign_in(sqlite_hub.engine, "root", password, "127.0.0.1")  # enabled again
    listed = runner.invoke(app, ["users", "list"], env=env)
    assert "root" in listed.output and "active" in listed.output


def test_refusals_name_the_problem(sqlite_hub: Hub) -> None:
    runner, env = CliRunner(), _env(sqlite_hub)
    assert runner.invoke(app, ["users", "create", "amina", "--role", "officer", "--generate"], env=env).exit_code == 0
    taken = runner.invoke(app, ["users", "create", "amina", "--role", "officer", "--generate"], env=env)
    assert taken.exit_code == 1 and "taken" in taken.output
    short = runner.invoke(app, ["users", "create", "noor", "--role", "reviewer"], env=env, input="short\nshort\n")
    assert short.exit_code == 2 and "at least 10 characters" in short.output
    differ = runner.invoke(app, ["users", "create", "noor", "--role", "reviewer"], env=env, input="a" * 12 + "\nb\n")
    assert differ.exit_code == 2 and "differ" in differ.output
    bad_role = runner.invoke(app, ["users", "create", "noor", "--role", "king", "--generate"], env=env)
    assert bad_role.exit_code == 2
    missing = runner.invoke(app, ["users", "disable", "nobody"], env=env)
    assert missing.exit_code == 1 and "no user 'nobody'" in missing.output
