import json
import signal
import sqlite3

import pytest

from tests.helpers.daemon import RunningDaemon

pytestmark = pytest.mark.integration


def test_running_operation_becomes_failed_after_restart(bangerd: RunningDaemon) -> None:
    # Fake an operation caught mid-run by a crash: the record exists, the daemon is gone.
    bangerd.stop(signal.SIGKILL)
    with sqlite3.connect(bangerd.state_dir / "banger.db") as conn:
        conn.execute(
            "INSERT INTO operations (id, kind, state, created_at) VALUES "
            "('abc123', 'image.pull', 'running', '2026-01-01T00:00:00+00:00')"
        )
    bangerd.start()
    ops = json.loads(bangerd.cli("--json", "ops", "list", check=True).stdout)
    assert [(o["id"], o["state"], o["error"]["message"]) for o in ops] == [
        ("abc123", "failed", "daemon restarted")
    ]
