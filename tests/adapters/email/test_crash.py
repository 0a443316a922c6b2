"""A reader process killed (SIGKILL) between fetching a reply from IMAP and committing it: after a restart
the reply is taken exactly once, and the mail is flagged only once it is committed.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from email.policy import SMTP
from pathlib import Path

import pytest
from sqlalchemy import select

from adapters.testing.email_agency import AgencyMailServer, staff_reply
from broker import inbound
from broker.hub import Hub
from broker.store.tables import agency_messages
from tests.adapters.email.conftest import AGENCY, SECRET
from tests.adapters.email.dovecot import PASSWORD, PASSWORD_ENV, Dovecot
from tests.adapters.email.test_hub import said, submit_case
from tests.integration.procs import hub_env

# The child reads the inbox once; at `stop_at` it says so in a file and waits to be killed.
CHILD = """
import sys, time
from pathlib import Path
from broker import inbound
from broker.hub import Hub
from broker.settings import Settings

marker, stop_at = Path(sys.argv[1]), sys.argv[2]
real = getattr(inbound, stop_at)

def killed_here(*args, **kwargs):
    marker.write_text(stop_at)
    time.sleep(600)

setattr(inbound, stop_at, killed_here)
inbound.read_inbox(Hub(Settings()), sys.argv[3])
"""

STOPS = [
    # (where the process dies, what the database holds when it does)
    ("_record", "fetched from IMAP, nothing recorded yet"),
    ("write_cursor", "the message recorded, the cursor not yet moved, the mail not flagged"),
]


@pytest.mark.parametrize(("stop_at", "_when"), STOPS)
def test_a_reader_killed_between_fetch_and_commit_takes_the_reply_once_after_restart(
    hub: Hub,
    agency_server: AgencyMailServer,
    dovecot: Dovecot,
    file_store: tuple[str, dict[str, tuple[str, bytes]]],
    tmp_path: Path,
    stop_at: str,
    _when: str,
) -> None:
    handoff_id = submit_case(hub, file_store)
    [sent] = agency_server.wait_for(1)
    dovecot.append(staff_reply(sent.message, "تم إصلاح العطل.").as_bytes(policy=SMTP))
    marker = tmp_path / "stopped"
    env = hub_env(hub, HUB_REPLY_SECRET=SECRET, **{PASSWORD_ENV: PASSWORD})
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(marker), stop_at, AGENCY], env=env, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), "the reader never reached the point where it is killed"
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
    assert "$Tawasul" not in dovecot.flags()[1]  # never flagged: nothing was confirmed
    before = said(hub, handoff_id)
    assert before == ([("answered", "تم إصلاح العطل.")] if stop_at == "write_cursor" else [])

    inbound.read_inbox(hub, AGENCY)  # the restart
    inbound.read_inbox(hub, AGENCY)
    assert said(hub, handoff_id) == [("answered", "تم إصلاح العطل.")]  # exactly once
    with hub.engine.connect() as conn:
        assert len(conn.execute(select(agency_messages.c.id)).all()) == 1
    assert "$Tawasul" in dovecot.flags()[1]
