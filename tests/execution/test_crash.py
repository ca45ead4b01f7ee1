"""The crash harness's checks can fail: each failure it claims to catch is planted in a finished run's records.

The SIGKILL campaign itself runs as its own step of ``.ci/run`` (SQLite and PostgreSQL), not inside the README's
test command: ``python -m tests.crash.harness --trials 200 [--pg-url URL]`` locally."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.crash import harness

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("crash-finished")
    done, msg, _ = harness._life(harness.Target(d), None)
    assert done, msg
    return d


def _copy(src: Path, dst: Path) -> harness.Target:
    shutil.copytree(src, dst)
    return harness.Target(dst)


def _journal(target: harness.Target) -> sqlite3.Connection:
    (path,) = harness._journals(target.data_dir)[:1]
    return sqlite3.connect(path)


def _add_event(target: harness.Target, kind: str, body: dict) -> None:
    db = _journal(target)
    venue, seq = db.execute("SELECT venue, MAX(seq) FROM events").fetchone()
    db.execute(
        "INSERT INTO events (venue, seq, kind, body) VALUES (?, ?, ?, ?)", (venue, seq + 1, kind, json.dumps(body))
    )
    db.commit()


def _a_submission(target: harness.Target) -> dict:
    (body,) = _journal(target).execute("SELECT body FROM events WHERE kind = 'submission' LIMIT 1").fetchone()
    return json.loads(body)


def test_a_clean_run_passes(finished: Path) -> None:
    problems, fills, orders, funding = harness.check(harness.Target(finished))
    assert problems == [] and fills > 0 and orders > 0 and funding > 0


def test_it_catches_a_duplicate_submission(finished: Path, tmp_path: Path) -> None:
    t = _copy(finished, tmp_path / "d")
    _add_event(t, "submission", _a_submission(t))
    problems, *_ = harness.check(t)
    assert any("submitted twice" in p for p in problems), problems


def test_it_catches_an_intent_re_sent_under_a_new_client_id(finished: Path, tmp_path: Path) -> None:
    t = _copy(finished, tmp_path / "d")
    sub = _a_submission(t)
    _add_event(t, "submission", sub | {"client_order_id": sub["client_order_id"] + "-again"})
    problems, *_ = harness.check(t)
    assert any("re-sent under new client ids" in p for p in problems), problems
    assert not any("submitted twice" in p for p in problems)


def test_it_catches_a_lost_fill(finished: Path, tmp_path: Path) -> None:
    t = _copy(finished, tmp_path / "d")
    db = sqlite3.connect(t.data_dir / "carrybot.db")
    db.execute("DELETE FROM fills WHERE id = (SELECT MIN(id) FROM fills)")
    db.commit()
    problems, *_ = harness.check(t)
    assert any("fills lost" in p for p in problems) and any("balance" in p or "positions" in p for p in problems)


def test_it_catches_a_lost_funding_payment(finished: Path, tmp_path: Path) -> None:
    t = _copy(finished, tmp_path / "d")
    db = sqlite3.connect(t.data_dir / "carrybot.db")
    db.execute("DELETE FROM funding_payments WHERE id = (SELECT MAX(id) FROM funding_payments)")
    db.commit()
    problems, *_ = harness.check(t)
    assert any("funding payments lost" in p for p in problems), problems
