"""Prometheus metrics (prometheus-client), on a registry of the bot's own.

Names follow Prometheus conventions: ``carrybot_`` prefix, base units (``_usd``, ``_seconds``, ``_ratio``), ``_total``
for counters; labels are bounded (venue, instrument, rule, outcome, part, state, key) — never order ids or prices.

Two halves, neither of which diffs polled totals:

- counters move when things happen: ``Metrics`` is a sink on the event bus (decisions, orders, fills, rejections,
  suspect prints, tick durations);
- gauges, and the counters other parts keep themselves (venue errors and retries, stream messages, operator commands),
  are read at scrape time by a custom collector from the running bot (``RunView``): nothing is computed per tick.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot import __version__
from bot.decisions import Outcome, RuleId, TradingState
from bot.domain import Fill, Instrument, MarketSnapshot, OrderStatus, OrderUpdate, TransferUpdate
from bot.events import DecisionMade, Event, OrderSent, TickClosed, TransferDecided
from bot.feeds.guard import SuspectPrint
from bot.governor.watch import unhedged_by_base
from bot.venues.errors import REJECT_CODES

_LATENCY_BUCKETS = (1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 1e-3, 1e-2, 0.1)
_PARTS = ("realized", "unrealized", "funding", "fees", "spread", "slippage", "borrow")


class RunView(Protocol):
    """What the collector reads from a running bot (the executor satisfies it)."""

    instruments: Mapping[str, Instrument]
    market: dict[str, MarketSnapshot]
    gateways: dict[str, Any]
    governor: Any
    ledger: Any
    recorder: Any
    reads: Any
    clock: Any

    def account_view(self) -> Any: ...

    @property
    def marks(self) -> Any: ...


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.build = Info("carrybot_build", "build information", registry=r)
        self.build.info({"version": __version__})
        self.instance = Info(
            "carrybot_instance", "which bot this is, and its firm (join on instance to label any series)", registry=r
        )
        self.decisions = Counter(
            "carrybot_governor_decisions_total", "governor decisions", ["rule", "outcome"], registry=r
        )
        self.unavailable = Counter(
            "carrybot_signal_unavailable_total", "decisions taken without a signal", ["signal"], registry=r
        )
        self.orders = Counter("carrybot_orders_total", "orders sent to venues", ["venue"], registry=r)
        self.rejections = Counter(
            "carrybot_venue_rejections_total", "orders the venue rejected", ["reason"], registry=r
        )
        self.fills = Counter("carrybot_fills_total", "fills", ["venue"], registry=r)
        self.transfers = Counter(
            "carrybot_transfers_total",
            "wallet transfers and margin top-ups, by venue and outcome",
            ["venue", "status"],
            registry=r,
        )
        self.transferred = Counter(
            "carrybot_transferred_usd_total", "USDT moved by transfers the venues carried out", ["venue"], registry=r
        )
        self.suspect_prints = Counter(
            "carrybot_price_suspect_total",
            "prints the price guard held back (never used as marks)",
            ["instrument", "reason"],
            registry=r,
        )
        self.decision_latency = Histogram(
            "carrybot_decision_latency_seconds", "Governor.decide wall time", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.tick_latency = Histogram(
            "carrybot_tick_duration_seconds", "one executor tick, wall time", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.last_tick = Gauge("carrybot_last_tick_timestamp_seconds", "feed time of the last tick", registry=r)
        self.unhedged = Gauge(
            "carrybot_unhedged_notional_usd", "delta left unhedged at the end of the tick", registry=r
        )
        self.idle = Gauge(
            "carrybot_idle_capital_usd",
            "capital in the venue account that no position needs (spot wallet cash and free margin)",
            ["venue"],
            registry=r,
        )
        self._zero_known_series()
        self.state_collector = StateCollector()
        r.register(self.state_collector)

    def _zero_known_series(self) -> None:
        """Every label set an alert or panel takes increase() or rate() of, exported at 0 from the start: a series that
        first appears at 1 has no earlier sample, so Prometheus sees no increase and the first event (the first G8
        refusal, the first venue rejection of a kind) would never raise an alert."""
        for rule in ("none", *(r.value for r in RuleId)):
            for outcome in Outcome:
                self.decisions.labels(rule, outcome.value)
        for reason in REJECT_CODES:
            self.rejections.labels(reason)

    # --- what the collector reads at scrape time ---------------------------------------------------------------------
    def watch(
        self,
        run: RunView | None = None,
        *,
        feed: object | None = None,
        watchdog: object | None = None,
        mqtt: object | None = None,
    ) -> None:
        """Tell the collector where to read gauges and others' counters from (each part once it exists)."""
        c = self.state_collector
        if run is not None:
            c.run = run
        if feed is not None:
            c.feed = feed
        if watchdog is not None:
            c.watchdog = watchdog
        if mqtt is not None:
            c.mqtt = mqtt

    # --- a sink on the event bus ------------------------------------------------------------------------------------
    def handle(self, event: Event) -> None:
        if isinstance(event, DecisionMade):
            d = event.decision
            self.decision_latency.observe(event.seconds)
            if not d.hits:
                self.decisions.labels("none", d.outcome.value).inc()
            for h in d.hits:
                self.decisions.labels(h.rule, d.outcome.value).inc()
            for name in d.unavailable:
                self.unavailable.labels(name).inc()
        elif isinstance(event, OrderSent):
            self.orders.labels(event.venue).inc()
        elif isinstance(event, Fill):
            self.fills.labels(event.venue).inc()
        elif isinstance(event, OrderUpdate):
            if event.status is OrderStatus.REJECTED:
                self.rejections.labels(event.reason or "unknown").inc()
        elif isinstance(event, TransferDecided):
            td = event.decision
            for h in td.hits:
                self.decisions.labels(h.rule, td.outcome.value).inc()
            if not td.hits:
                self.decisions.labels("none", td.outcome.value).inc()
        elif isinstance(event, TransferUpdate):
            self.transfers.labels(event.venue, event.status.value).inc()
            if event.status.value == "done":
                self.transferred.labels(event.venue).inc(float(event.amount))
        elif isinstance(event, SuspectPrint):
            self.suspect_prints.labels(event.instrument_id, event.reason).inc()
        elif isinstance(event, TickClosed):
            self.tick_latency.observe(event.seconds)
            self.last_tick.set(event.ts_ns / 1e9)
            self.unhedged.set(event.unhedged_usd)
            for venue, usd in event.idle_usd.items():
                self.idle.labels(venue).set(usd)


def _gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=list(labels))


class StateCollector(Collector):
    """Gauges of the account, the governor and the store, computed when Prometheus scrapes (on the event loop,
    between ticks), and the counters that the gateways, the stream feed and the MQTT bridge keep themselves."""

    def __init__(self) -> None:
        self.run: RunView | None = None
        self.feed: object | None = None
        self.watchdog: object | None = None
        self.mqtt: object | None = None

    def describe(self) -> Iterator[Metric]:
        return iter(())  # families vary with what runs; described at collection

    def collect(self) -> Iterator[Metric]:
        yield from self._account()
        yield from self._others()
        yield from self._firm()

    def _firm(self) -> Iterator[Metric]:
        """The firm budget as this instance last read it (every instance exports the same firm totals: take max)."""
        up = _gauge("carrybot_firm_up", "1 while the firm budget answers (joined, last call succeeded)")
        used = _gauge("carrybot_firm_exposure_usd", "all instances, held and reserved, per asset", ("asset", "kind"))
        limit = _gauge("carrybot_firm_limit_usd", "the firm's cap per asset", ("asset", "kind"))
        total = _gauge("carrybot_firm_total_usd", "all instances, held and reserved, all assets", ("kind",))
        total_limit = _gauge("carrybot_firm_total_limit_usd", "the firm's cap on all assets", ("kind",))
        loss = _gauge("carrybot_firm_daily_loss_usd", "Σ over instances of start-of-day equity − equity")
        loss_limit = _gauge("carrybot_firm_daily_loss_limit_usd", "the firm's daily loss limit")
        orders = _gauge("carrybot_firm_orders_last_minute", "entry orders all instances reserved in the last minute")
        orders_limit = _gauge("carrybot_firm_orders_per_minute_limit", "the firm's entry order rate limit")
        instances = _gauge("carrybot_firm_instances", "instances on the firm budget", ("state",))
        active = _gauge("carrybot_firm_reservations_active", "this instance's entries holding a reservation")
        outcomes = CounterMetricFamily(
            "carrybot_firm_reservations", "this instance's asks to the firm by outcome", labels=["outcome"]
        )
        gate: Any = getattr(self.run, "firm", None) if self.run is not None else None
        if gate is not None:
            cfg = gate.budget.cfg
            up.add_metric([], 1.0 if gate.joined and gate.reachable else 0.0)
            active.add_metric([], len(gate.active))
            for outcome, n in sorted(gate.outcomes.items()):
                outcomes.add_metric([outcome], n)
            t = gate.totals
            assets = sorted(set(t.gross_by_asset if t is not None else ()) | set(cfg.assets))
            for asset in assets:
                gross_cap, net_cap = cfg.caps_of(asset)
                limit.add_metric([asset, "gross"], gross_cap)
                limit.add_metric([asset, "net"], net_cap)
            total_limit.add_metric(["gross"], cfg.max_gross_total_usd)
            total_limit.add_metric(["net"], cfg.max_net_total_usd)
            loss_limit.add_metric([], cfg.max_daily_loss_usd)
            orders_limit.add_metric([], cfg.max_orders_per_minute)
            if t is not None:
                for asset in assets:
                    used.add_metric([asset, "gross"], t.gross_by_asset.get(asset, 0.0))
                    used.add_metric([asset, "net"], t.net_by_asset.get(asset, 0.0))
                total.add_metric(["gross"], t.gross_total)
                total.add_metric(["net"], t.net_total)
                loss.add_metric([], t.daily_loss_usd)
                orders.add_metric([], t.orders_last_minute)
                instances.add_metric(["live"], t.live_instances)
                instances.add_metric(["expired"], t.expired_instances)
        yield from (up, used, limit, total, total_limit, loss, loss_limit, orders, orders_limit, instances, active)
        yield outcomes

    def _account(self) -> Iterator[Metric]:
        equity = _gauge("carrybot_equity_usd", "account equity (bot ledger, all venues)")
        pnl = _gauge("carrybot_pnl_usd", "ledger parts since start", ("part",))
        position = _gauge("carrybot_position_notional_usd", "signed position notional at mark", ("venue", "instrument"))
        gross = _gauge("carrybot_gross_exposure_usd", "gross exposure", ("venue",))
        leverage = _gauge("carrybot_leverage_ratio", "account gross exposure over equity")
        cap = _gauge("carrybot_leverage_cap_ratio", "G1 leverage cap (most restrictive held)")
        liq = _gauge("carrybot_liquidation_distance_ratio", "distance to liquidation over mark", ("instrument",))
        ladder = _gauge("carrybot_ladder_stage", "G3 ladder stage (0-3)", ("key",))
        state = _gauge("carrybot_trading_state", "G8 trading state (1 for the current one)", ("state",))
        stale = _gauge("carrybot_feed_staleness_seconds", "age of the newest snapshot", ("instrument",))
        store_up = _gauge("carrybot_store_up", "1 when the store accepts writes")
        backlog = _gauge("carrybot_store_backlog", "records waiting for the store")
        base_unhedged = _gauge("carrybot_unhedged_base_usd", "delta left on each base now (|net| at mark)", ("key",))
        run = self.run
        if run is not None:
            acct = run.account_view()
            equity.add_metric([], acct.equity)
            parts = run.ledger.parts(run.marks)
            for part in _PARTS:
                pnl.add_metric([part], float(getattr(parts, part)))
            for iid, q in acct.positions.items():
                mark = run.market[iid].mark
                position.add_metric([run.instruments[iid].venue, iid], q * mark)
                lp = acct.liq_prices.get(iid)
                if lp is not None:
                    liq.add_metric([iid], abs(mark - lp) / mark)
            for venue, g in acct.gross_by_venue.items():
                gross.add_metric([venue], g)
            leverage.add_metric([], acct.gross_total / acct.equity if acct.equity > 0 else 0.0)
            gov = run.governor
            caps = [run.reads.leverage(iid).max_leverage for iid in acct.positions] if run.reads is not None else []
            cap.add_metric([], min(caps) if caps else gov.cfg.g1.min_leverage)
            for key, stage in gov.ladders.snapshot().items():
                ladder.add_metric([key], stage)
            for st in TradingState:
                state.add_metric([st.value], 1.0 if gov.trading_state is st else 0.0)
            for base, usd in unhedged_by_base(acct.positions, run.instruments, lambda i: run.market[i].mark).items():
                base_unhedged.add_metric([base], usd)
            now = run.clock.now_ns()
            for iid, snap in run.market.items():
                stale.add_metric([iid], max(0.0, (now - snap.ts_ns) / 1e9))
            rec = run.recorder
            store_up.add_metric([], 1.0 if rec is None or rec.healthy else 0.0)
            backlog.add_metric([], 0 if rec is None else rec.backlog)
        yield from (
            equity,
            pnl,
            position,
            gross,
            leverage,
            cap,
            liq,
            ladder,
            state,
            stale,
            store_up,
            backlog,
            base_unhedged,
        )

    def _others(self) -> Iterator[Metric]:
        errors = CounterMetricFamily("carrybot_venue_errors", "venue API errors by code", labels=["venue", "code"])
        retries = CounterMetricFamily("carrybot_venue_retries", "retried venue calls by code", labels=["venue", "code"])
        if self.run is not None:
            for venue, gw in self.run.gateways.items():  # live gateways count their errors and retries by code
                for code, n in dict(getattr(gw, "errors", {})).items():
                    errors.add_metric([venue, code], n)
                for code, n in dict(getattr(gw, "retries", {})).items():
                    retries.add_metric([venue, code], n)
        reconnects = CounterMetricFamily(
            "carrybot_stream_reconnects", "market-data stream reconnects", labels=["venue"]
        )
        messages = CounterMetricFamily("carrybot_stream_messages", "market-data stream messages", labels=["venue"])
        for venue, n in dict(getattr(self.feed, "reconnects", {}) or {}).items():
            reconnects.add_metric([venue], n)
        for venue, n in dict(getattr(self.feed, "messages", {}) or {}).items():
            messages.add_metric([venue], n)
        mismatch = _gauge(
            "carrybot_position_mismatch",
            "1 while the ledger and the venue disagree on a position (live watchdog, two checks in a row)",
            ("instrument",),
        )
        for iid in dict(getattr(self.watchdog, "mismatches", {}) or {}):
            mismatch.add_metric([iid], 1)
        connected = _gauge("carrybot_mqtt_connected", "1 while connected to the MQTT broker")
        commands = CounterMetricFamily("carrybot_mqtt_commands", "operator commands by outcome", labels=["outcome"])
        if self.mqtt is not None:
            m: Any = self.mqtt
            connected.add_metric([], 1.0 if m.connected else 0.0)
            for outcome, n in [("accepted", m.accepted), *m.rejected.items()]:
                commands.add_metric([outcome], n)
        yield from (errors, retries, reconnects, messages, mismatch, connected, commands)
