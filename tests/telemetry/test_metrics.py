import asyncio

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bot.assembly import build_bot
from bot.governor.rules_config import load_rules
from bot.settings import Settings
from bot.telemetry.metrics import Metrics

SECRET = "sk-live-metrics-8c1d2e"
BOUNDED = {"venue", "instrument", "rule", "outcome", "part", "state", "key", "signal", "reason", "version", "code"}


def test_metrics_follow_conventions_and_carry_no_secret() -> None:
    settings = Settings(replay={"end": "2023-04-01"}, exchanges={"binance": {"api_key": SECRET}})
    bot = build_bot(settings, load_rules(), "sim")
    metrics = Metrics()
    bot.bus.subscribe(metrics)
    metrics.watch(bot.executor)
    asyncio.run(bot.executor.run())
    text = generate_latest(metrics.registry).decode()
    assert SECRET not in text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert {
        "carrybot_equity_usd",
        "carrybot_governor_decisions",
        "carrybot_trading_state",
        "carrybot_pnl_usd",
        "carrybot_decision_latency_seconds",
        "carrybot_store_up",
        "carrybot_build_info",
    } <= set(families)
    for name, fam in families.items():
        assert name.startswith("carrybot_")
        if fam.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in fam.samples), name
        for s in fam.samples:
            assert set(s.labels) <= BOUNDED | {"le"}, (name, s.labels)
    decisions = sum(s.value for s in families["carrybot_governor_decisions"].samples if s.name.endswith("_total"))
    assert decisions == len(bot.audit.decisions) > 0
    # idle capital per venue, as the venue accounts stand at the last tick
    idle = {s.labels["venue"]: s.value for s in families["carrybot_idle_capital_usd"].samples}
    assert set(idle) == {"binance", "bybit", "okx"}
    assert idle == {v: st.idle for v, st in bot.executor.account_states().items()}


def test_stream_reconnects_and_messages_are_exported_as_counters() -> None:
    from bot.clock import RealClock
    from bot.feeds.stream import LiveStreamFeed

    settings = Settings(replay={"end": "2023-01-10"})
    bot = build_bot(settings, load_rules(), "sim")
    metrics = Metrics()
    bot.bus.subscribe(metrics)
    feed = LiveStreamFeed({}, {}, RealClock())
    metrics.watch(bot.executor, feed=feed)
    feed.messages["bybit"] += 40
    feed.reconnects["bybit"] += 2
    asyncio.run(bot.executor.run())
    feed.messages["bybit"] += 5  # the feed's own count, read at scrape time: never counted twice
    generate_latest(metrics.registry)
    fams = {f.name: f for f in text_string_to_metric_families(generate_latest(metrics.registry).decode())}
    total = {
        f: next(s.value for s in fams[f].samples if s.name.endswith("_total"))
        for f in ("carrybot_stream_messages", "carrybot_stream_reconnects")
    }
    assert total == {"carrybot_stream_messages": 45, "carrybot_stream_reconnects": 2}


def test_counters_that_alerts_rate_start_at_zero_so_the_first_event_is_seen() -> None:
    """A labelled counter series that first appears at 1 has no earlier sample: increase() over it is 0, so the first
    G8 refusal in REDUCING, or the first venue rejections of a kind, would never raise CarrybotDailyLossLimit or
    CarrybotVenueRejections. Every label set the alerts take increase() of is exported at 0 before anything happens."""
    text = generate_latest(Metrics().registry).decode()
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    totals = [s for s in fams["carrybot_governor_decisions"].samples if s.name.endswith("_total")]
    decisions = {(s.labels["rule"], s.labels["outcome"]): s.value for s in totals}
    assert decisions[("G8", "reject")] == 0 and decisions[("G7", "resize")] == 0 and decisions[("none", "approve")] == 0
    assert len(decisions) == 10 * 3  # (none, G1–G9) × (approve, resize, reject)
    rejected = [s for s in fams["carrybot_venue_rejections"].samples if s.name.endswith("_total")]
    rejections = {s.labels["reason"]: s.value for s in rejected}
    assert rejections["insufficient_funds"] == 0 and rejections["invalid_order"] == 0
