"""Prometheus metrics (prometheus-client), on a registry of the bot's own.

Names follow Prometheus conventions: ``carrybot_`` prefix, base units (``_usd``, ``_seconds``, ``_ratio``), ``_total``
for counters; labels are bounded (venue, instrument, rule, outcome, part, state, key) — never order ids or prices.
Gauges are refreshed once per tick from the executor (``update``); counters move as things happen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from bot import __version__
from bot.decisions import Decision, TradingState

if TYPE_CHECKING:
    from bot.execution.executor import Executor

_LATENCY_BUCKETS = (1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 1e-3, 1e-2, 0.1)


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.build = Info("carrybot_build", "build information", registry=r)
        self.build.info({"version": __version__})
        self.equity = Gauge("carrybot_equity_usd", "account equity (bot ledger, all venues)", registry=r)
        self.pnl = Gauge("carrybot_pnl_usd", "ledger parts since start", ["part"], registry=r)
        self.position = Gauge("carrybot_position_notional_usd", "signed position notional at mark",
                              ["venue", "instrument"], registry=r)
        self.gross = Gauge("carrybot_gross_exposure_usd", "gross exposure", ["venue"], registry=r)
        self.leverage = Gauge("carrybot_leverage_ratio", "account gross exposure over equity", registry=r)
        self.leverage_cap = Gauge("carrybot_leverage_cap_ratio", "G1 leverage cap (most restrictive held)",
                                  registry=r)
        self.liq_distance = Gauge("carrybot_liquidation_distance_ratio", "distance to liquidation over mark",
                                  ["instrument"], registry=r)
        self.ladder = Gauge("carrybot_ladder_stage", "G3 ladder stage (0-3)", ["key"], registry=r)
        self.state = Gauge("carrybot_trading_state", "G8 trading state (1 for the current one)", ["state"],
                           registry=r)
        self.unhedged = Gauge("carrybot_unhedged_notional_usd", "delta left unhedged at the end of the tick",
                              registry=r)
        self.decisions = Counter("carrybot_governor_decisions_total", "governor decisions", ["rule", "outcome"],
                                 registry=r)
        self.unavailable = Counter("carrybot_signal_unavailable_total", "decisions taken without a signal",
                                   ["signal"], registry=r)
        self.orders = Counter("carrybot_orders_total", "orders sent to venues", ["venue"], registry=r)
        self.rejections = Counter("carrybot_venue_rejections_total", "orders the venue rejected", ["reason"],
                                  registry=r)
        self.fills = Counter("carrybot_fills_total", "fills", ["venue"], registry=r)
        self.staleness = Gauge("carrybot_feed_staleness_seconds", "age of the newest snapshot", ["instrument"],
                               registry=r)
        self.store_up = Gauge("carrybot_store_up", "1 when the store accepts writes", registry=r)
        self.store_backlog = Gauge("carrybot_store_backlog", "records waiting for the store", registry=r)
        self.decision_latency = Histogram("carrybot_decision_latency_seconds", "Governor.decide wall time",
                                          buckets=_LATENCY_BUCKETS, registry=r)
        self.tick_latency = Histogram("carrybot_tick_duration_seconds", "one executor tick, wall time",
                                      buckets=_LATENCY_BUCKETS, registry=r)
        self.venue_errors = Counter("carrybot_venue_errors_total", "venue API errors by code", ["venue", "code"],
                                    registry=r)
        self.venue_retries = Counter("carrybot_venue_retries_total", "retried venue calls by code", ["venue", "code"],
                                     registry=r)
        self.mqtt_connected = Gauge("carrybot_mqtt_connected", "1 while connected to the MQTT broker", registry=r)
        self.mqtt_commands = Counter("carrybot_mqtt_commands_total", "operator commands by outcome", ["outcome"],
                                     registry=r)
        self.mqtt: Any = None  # the bridge, when MQTT is on
        self._seen_errors: dict[tuple[str, str, str], int] = {}
        self.stream_reconnects = Counter("carrybot_stream_reconnects_total", "market-data stream reconnects",
                                         ["venue"], registry=r)
        self.stream_messages = Counter("carrybot_stream_messages_total", "market-data stream messages", ["venue"],
                                       registry=r)
        self.position_mismatch = Gauge("carrybot_position_mismatch", "1 while the ledger and the venue disagree on a "
                                       "position (live watchdog, two checks in a row)", ["instrument"], registry=r)
        self.watchdog: object | None = None  # the live position watchdog, whose findings are exported
        self.feed: object | None = None  # a live stream feed, whose counters are exported
        self._seen: dict[tuple[str, str], int] = {}
        self.last_tick = Gauge("carrybot_last_tick_timestamp_seconds", "feed time of the last tick", registry=r)
        self._seen_fills = 0
        self.suspect_prints = Counter("carrybot_price_suspect_total", "prints the price guard held back (never "
                                      "used as marks)", ["instrument", "reason"], registry=r)

    def decision(self, d: Decision, seconds: float) -> None:
        self.decision_latency.observe(seconds)
        if not d.hits:
            self.decisions.labels("none", d.outcome.value).inc()
        for h in d.hits:
            self.decisions.labels(h.rule, d.outcome.value).inc()
        for name in d.unavailable:
            self.unavailable.labels(name).inc()

    def _feed_counters(self) -> None:
        for name, metric in (("reconnects", self.stream_reconnects), ("messages", self.stream_messages)):
            for venue, n in dict(getattr(self.feed, name, {}) or {}).items():
                last = self._seen.get((name, venue), 0)
                if n > last:
                    metric.labels(venue).inc(n - last)
                    self._seen[(name, venue)] = n

    def update(self, ex: Executor, now_ns: int, tick_seconds: float) -> None:
        """Refresh the gauges from the executor after a tick."""
        self.tick_latency.observe(tick_seconds)
        if self.feed is not None:
            self._feed_counters()
        if self.watchdog is not None:
            self.position_mismatch.clear()
            for iid in getattr(self.watchdog, "mismatches", {}):
                self.position_mismatch.labels(iid).set(1)
        acct = ex.account_view()
        self.equity.set(acct.equity)
        parts = ex.ledger.parts(ex.marks)
        for part in ("realized", "unrealized", "funding", "fees", "spread", "slippage", "borrow"):
            self.pnl.labels(part).set(float(getattr(parts, part)))
        self.position.clear()
        self.liq_distance.clear()
        for iid, q in acct.positions.items():
            venue = ex.instruments[iid].venue
            mark = ex.market[iid].mark
            self.position.labels(venue, iid).set(q * mark)
            liq = acct.liq_prices.get(iid)
            if liq is not None:
                self.liq_distance.labels(iid).set(abs(mark - liq) / mark)
        self.gross.clear()
        for venue, g in acct.gross_by_venue.items():
            self.gross.labels(venue).set(g)
        self.leverage.set(acct.gross_total / acct.equity if acct.equity > 0 else 0.0)
        caps = [ex.governor.reads.leverage(iid).max_leverage for iid in acct.positions]
        caps = caps or [ex.governor.cfg.g1.min_leverage]
        self.leverage_cap.set(min(caps))
        for key, stage in ex.governor.ladders.snapshot().items():
            self.ladder.labels(key).set(stage)
        for st in TradingState:
            self.state.labels(st.value).set(1.0 if ex.governor.trading_state is st else 0.0)
        net: dict[str, float] = {}
        for iid, q in acct.positions.items():
            base = ex.instruments[iid].base
            net[base] = net.get(base, 0.0) + q * ex.market[iid].mark
        self.unhedged.set(max((abs(v) for v in net.values()), default=0.0))
        for iid, snap in ex.market.items():
            self.staleness.labels(iid).set(max(0.0, (now_ns - snap.ts_ns) / 1e9))
        st = ex.stats
        for f in st.fills_log[self._seen_fills:]:
            self.fills.labels(f.venue).inc()
        self._seen_fills = len(st.fills_log)
        for venue, gw in ex.gateways.items():  # live gateways count their errors and retries by code
            for kind, counter in (("errors", self.venue_errors), ("retries", self.venue_retries)):
                for code, n in getattr(gw, kind, {}).items():
                    key = (kind, venue, code)
                    if n > self._seen_errors.get(key, 0):
                        counter.labels(venue, code).inc(n - self._seen_errors.get(key, 0))
                        self._seen_errors[key] = n
        if self.mqtt is not None:
            self.mqtt_connected.set(1.0 if self.mqtt.connected else 0.0)
            for outcome, n in [("accepted", self.mqtt.accepted), *self.mqtt.rejected.items()]:
                key = ("mqtt", "-", outcome)
                if n > self._seen_errors.get(key, 0):
                    self.mqtt_commands.labels(outcome).inc(n - self._seen_errors.get(key, 0))
                    self._seen_errors[key] = n
        if ex.recorder is not None:
            self.store_up.set(1.0 if ex.recorder.healthy else 0.0)
            self.store_backlog.set(ex.recorder.backlog)
        else:
            self.store_up.set(1.0)
        self.last_tick.set(now_ns / 1e9)

    def rejected(self, reason: str) -> None:
        self.rejections.labels(reason).inc()

    def suspect_print(self, instrument: str, reason: str) -> None:
        self.suspect_prints.labels(instrument, reason).inc()

    def order_sent(self, venue: str) -> None:
        self.orders.labels(venue).inc()

