"""Capital allocation (SPEC §2, portfolio): one pass over every strategy's entries of a tick sizes them across the
venues' accounts, best net carry first, to a target share of equity.

Strategies say *what* to enter (the legs, their ratio and the expected net carry); this decides *how much*, from the
venue accounts as the venues keep them (``bot.accounts``). Per venue the entry needs:

- **split account** (spot and derivatives wallets): the spot legs' notional from the spot wallet, the derivative
  legs' initial margin (notional / L) from the derivatives wallet's free margin, and a reserve of
  ``split_reserve_pct`` of the derivative legs' notional left idle in either wallet for margin top-ups (in the
  derivatives wallet it is margin already; in the spot wallet the margin manager moves it when a rally brings a
  short perp towards its liquidation);
- **unified account**: the spot legs' notional in cash, and free margin for the derivative legs' initial margin
  less what the spot coins bought bring as collateral (``haircut`` × their value).

An entry is scaled to the largest size every venue it touches can fund, inside that venue's budget (its idle capital
less ``1 − target_deploy_pct`` of its equity) and its fair share (``target_deploy_pct`` of its equity over the number
of opportunities the strategies trade there), best net carry first; one too small to be worth sending is dropped.
Every governor cap still applies afterwards: this only sizes, the governor decides. A pure function of (intents,
accounts): no I/O, no state; where a venue's account is unknown (a live gateway that cannot report it) the
strategy's own size goes through unchanged.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_FLOOR, Decimal

from bot.accounts import AccountMode, AccountState
from bot.domain import Instrument, MarketSnapshot, OrderIntent, Purpose, Side, to_decimal


@dataclass(frozen=True, slots=True)
class AllocationPolicy:
    target_deploy_pct: float = 0.90
    split_reserve_pct: float = 0.50
    min_entry_usd: float = 1_000.0
    strategies: frozenset[str] = frozenset({"s1", "s2"})  # whose entries it sizes; the others keep their own size
    # the governor's G7 size caps, so that a sized entry fits them (the governor still checks every one)
    max_order_notional_usd: float = math.inf
    max_gross_venue_usd: float = math.inf
    max_gross_total_usd: float = math.inf


@dataclass(slots=True)
class _Need:
    """Per unit of an intent's scale: cash from the spot (or unified) wallet, margin from the margin wallet."""

    cash: float = 0.0
    margin: float = 0.0
    capital: float = 0.0  # what the venue's idle capital goes down by


def venue_slots(opportunities: Sequence[tuple[str, ...]]) -> dict[str, int]:
    """How many opportunities the strategies may hold on each venue (each is a fair share of its capital)."""
    out: Counter[str] = Counter()
    for venues in opportunities:
        for v in set(venues):
            out[v] += 1
    return dict(out)


def _needs(
    intent: OrderIntent,
    instruments: Mapping[str, Instrument],
    market: Mapping[str, MarketSnapshot],
    accounts: Mapping[str, AccountState],
    policy: AllocationPolicy,
) -> dict[str, _Need] | None:
    spot_long: dict[str, float] = {}
    spot_short: dict[str, float] = {}
    deriv: dict[str, float] = {}
    margin: dict[str, float] = {}
    for leg in intent.legs:
        inst = instruments[leg.instrument_id]
        snap = market.get(leg.instrument_id)
        if snap is None:
            return None
        notional = float(leg.qty) * snap.mid
        v = inst.venue
        if inst.is_derivative:
            deriv[v] = deriv.get(v, 0.0) + notional
            margin[v] = margin.get(v, 0.0) + notional / max(1, leg.leverage or 1)
        elif leg.side is Side.BUY:
            spot_long[v] = spot_long.get(v, 0.0) + notional
        else:
            spot_short[v] = spot_short.get(v, 0.0) + notional  # borrowed: its margin is held in cash
    out: dict[str, _Need] = {}
    for v in set(spot_long) | set(spot_short) | set(deriv):
        st = accounts.get(v)
        if st is None or not math.isfinite(st.equity):
            return None
        spot = spot_long.get(v, 0.0) + spot_short.get(v, 0.0)
        if st.margin.mode is AccountMode.SPLIT:  # the reserve may sit in either wallet: it is idle until needed
            reserve = policy.split_reserve_pct * deriv.get(v, 0.0)
            need = _Need(spot, margin.get(v, 0.0), spot + margin.get(v, 0.0) + reserve)
        else:
            im = max(0.0, margin.get(v, 0.0) + spot - st.margin.haircut * spot_long.get(v, 0.0))
            need = _Need(spot, im, max(spot, im))
        out[v] = need
    return out


def _scaled(intent: OrderIntent, k: float, instruments: Mapping[str, Instrument]) -> OrderIntent | None:
    """The intent with every leg times ``k``, floored to the coarsest quantity step among its legs (legs of equal
    quantity stay equal: a hedge stays a hedge)."""
    step = max(instruments[leg.instrument_id].qty_step for leg in intent.legs)
    factor = to_decimal(k)
    legs = []
    for leg in intent.legs:
        qty = (leg.qty * factor / step).to_integral_value(rounding=ROUND_FLOOR) * step
        if qty <= 0 or qty < instruments[leg.instrument_id].min_qty:
            return None
        legs.append(replace(leg, qty=qty))
    return replace(intent, legs=tuple(legs))


def allocate(
    intents: Sequence[OrderIntent],
    instruments: Mapping[str, Instrument],
    market: Mapping[str, MarketSnapshot],
    accounts: Mapping[str, AccountState],
    slots: Mapping[str, int],
    policy: AllocationPolicy,
    skipped: Counter[str] | None = None,
    positions: Mapping[str, Decimal] | None = None,
    leverage_room: Mapping[str, float] | None = None,
) -> list[OrderIntent]:
    """The tick's intents with every entry sized (exits, hedges and the rest go through as they are, first).
    ``positions``: what is held now (the G7 gross caps count it); ``leverage_room``: per derivative, the gross G1
    still lets an entry add (an entry is sized inside it rather than resized below the venue minimum)."""
    entries = [i for i in intents if i.purpose is Purpose.ENTRY and i.source in policy.strategies]
    out = [i for i in intents if i.purpose is not Purpose.ENTRY or i.source not in policy.strategies]
    t = policy.target_deploy_pct
    cash_left: dict[str, float] = {}
    margin_left: dict[str, float] = {}
    budget: dict[str, float] = {}
    for v, st in accounts.items():
        if not math.isfinite(st.equity):
            continue
        free = max(0.0, st.free_margin)
        if st.margin.mode is AccountMode.SPLIT:
            cash_left[v] = max(0.0, st.spot_free)
            margin_left[v] = free
        else:
            cash_left[v] = max(0.0, min(st.margin.cash, free))
            margin_left[v] = free
        budget[v] = st.idle - (1 - t) * st.equity
    gross_venue: dict[str, float] = {}
    for iid, q in (positions or {}).items():
        snap = market.get(iid)
        if snap is not None and iid in instruments:
            inst = instruments[iid]
            value = abs(float(q)) * snap.mark
            gross_venue[inst.venue] = gross_venue.get(inst.venue, 0.0) + value
            if inst.is_derivative and inst.venue in cash_left and accounts[inst.venue].margin.mode is AccountMode.SPLIT:
                # the top-up reserve of a pair already held stays idle: not for new entries
                budget[inst.venue] -= policy.split_reserve_pct * value
    gross_left = policy.max_gross_total_usd - sum(gross_venue.values())
    spent_room = 0.0  # G1 room taken by the entries sized before this one (the account's gross grows)
    ranked = sorted(entries, key=lambda i: (-(i.edge_apr if i.edge_apr is not None else -math.inf), i.intent_id))
    for intent in ranked:
        needs = _needs(intent, instruments, market, accounts, policy)
        if needs is None:
            out.append(intent)  # an account the gateway cannot report: the strategy's own size
            continue
        # an addition to a pair already held counts what it holds against the pair's fair share
        first = intent.legs[0]
        held = abs(float((positions or {}).get(first.instrument_id, 0))) / float(first.qty)
        k = math.inf
        for v, n in needs.items():
            share = t * accounts[v].equity / max(1, slots.get(v, 1)) - held * n.capital
            for have, want in (
                (cash_left[v], n.cash),
                (margin_left[v], n.margin),
                (budget[v], n.capital),
                (share, n.capital),
            ):
                if want > 0:
                    k = min(k, max(0.0, have) / want)
        leg_usd = [float(leg.qty) * market[leg.instrument_id].mid for leg in intent.legs]
        for usd in leg_usd:
            if usd > 0:
                k = min(k, policy.max_order_notional_usd / usd)
        by_venue: dict[str, float] = {}
        for leg, usd in zip(intent.legs, leg_usd, strict=True):
            v = instruments[leg.instrument_id].venue
            by_venue[v] = by_venue.get(v, 0.0) + usd
        for v, usd in by_venue.items():
            k = min(k, max(0.0, policy.max_gross_venue_usd - gross_venue.get(v, 0.0)) / usd)
        k = min(k, max(0.0, gross_left) / sum(leg_usd))
        rooms = [(leverage_room or {}).get(leg.instrument_id) for leg in intent.legs]
        known = [r for r in rooms if r is not None]
        if known:
            k = min(k, max(0.0, min(known) - spent_room) / sum(leg_usd))
        k *= 0.999  # a hair inside the caps: marks move between this sizing and the governor's check
        size = sum(leg_usd) / len(leg_usd)
        sized = _scaled(intent, k, instruments) if math.isfinite(k) and k * size >= policy.min_entry_usd else None
        if sized is None:
            if skipped is not None:
                skipped["add_no_room" if held else "no_capital"] += 1
            continue
        kk = float(sized.legs[0].qty / intent.legs[0].qty)
        for v, n in needs.items():
            cash_left[v] -= kk * n.cash
            margin_left[v] -= kk * n.margin
            budget[v] -= kk * n.capital
        for v, usd in by_venue.items():
            gross_venue[v] = gross_venue.get(v, 0.0) + kk * usd
        gross_left -= kk * sum(leg_usd)
        spent_room += kk * sum(leg_usd)
        out.append(sized)
    return out
