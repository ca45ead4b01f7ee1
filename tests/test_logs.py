import io
import json

from bot import logs


def test_secrets_are_scrubbed_from_every_logged_value() -> None:
    out = io.StringIO()
    logs.configure("debug", "json", secrets=["hunter2-secret"], stream=out)
    log = logs.get_logger("t")
    log.info(
        "connect",
        url="wss://x?key=hunter2-secret",
        api_key="abc",
        nested={"password": "p", "ok": 1},
        items=["a hunter2-secret b"],
    )
    rec = json.loads(out.getvalue())
    assert "hunter2-secret" not in out.getvalue()
    assert rec["api_key"] == logs.MASK and rec["nested"] == {"password": logs.MASK, "ok": 1}
    assert rec["url"] == f"wss://x?key={logs.MASK}"


def test_console_format_for_terminals() -> None:
    out = io.StringIO()
    logs.configure("info", "console", stream=out)
    logs.get_logger("t").info("hello", n=1)
    logs.get_logger("t").debug("hidden")
    text = out.getvalue()
    assert "hello" in text and "n=1" in text and "hidden" not in text and not text.startswith("{")
