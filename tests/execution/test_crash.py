"""Kill paper trading with SIGKILL at random moments, restart it, and check nothing was sent twice or lost.

The trial count comes from CARRYBOT_CRASH_TRIALS (30 by default, as in CI; run 200+ locally with
``python -m tests.crash.harness --trials 200``)."""

import os

import pytest

from tests.crash import harness

pytestmark = pytest.mark.slow


def test_sigkill_at_random_moments_never_duplicates_or_loses_anything(capsys) -> None:
    trials = int(os.environ.get("CARRYBOT_CRASH_TRIALS", "30"))
    code = harness.main(["--trials", str(trials), "--seed", os.environ.get("CARRYBOT_CRASH_SEED", "1")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"{trials} trials" in out and "0 failed" in out


def test_the_checker_catches_a_lost_fill(tmp_path) -> None:
    """The harness's check must be able to fail: delete one fill from a finished run's store."""
    import sqlite3

    done, msg = harness._run_once(tmp_path, None)
    assert done, msg
    problems, fills, _ = harness.check(tmp_path)
    assert problems == [] and fills > 0
    db = sqlite3.connect(tmp_path / "carrybot.db")
    db.execute("DELETE FROM fills WHERE id = (SELECT MIN(id) FROM fills)")
    db.commit()
    problems, _, _ = harness.check(tmp_path)
    assert any("fills lost" in p for p in problems) and any("balance" in p or "positions" in p for p in problems)
