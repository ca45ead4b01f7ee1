"""Margin management (SPEC §4): move idle collateral to a hedged book's perp legs before a rally pushes them towards
their liquidation ladder.

A pure function of the venue accounts and the G2 settings. For each perp whose liquidation is nearer than
``topup_below_pct`` of its mark it proposes the transfer that puts it ``topup_to_pct`` away, as far as idle
collateral allows: USDT from the spot wallet into the derivatives wallet (split accounts, cross positions), or from
the margin wallet into an isolated position's margin (topping the margin wallet up from the spot wallet first when it
is short). A unified account's cross positions already count the spot coins as collateral: nothing to move. The
intents pass the governor like any other; when collateral runs out, nothing is proposed and the G3 ladder acts.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_DOWN, Decimal

from bot.accounts import AccountMode, AccountState, MarginMode, Wallet, cash_for_distance, margin_wallet
from bot.domain import Origin, TransferIntent
from bot.governor.rules_config import G2Config

_CENT = Decimal("0.01")


def _usd(x: float) -> Decimal:
    return Decimal(repr(x)).quantize(_CENT, rounding=ROUND_DOWN)


def topup_intents(
    accounts: Mapping[str, AccountState], cfg: G2Config, now_ns: int, step: int = 0, quote: str = "USDT"
) -> list[TransferIntent]:
    """At most one transfer per venue per call (the next call sees its effect); ``step`` tells a tick's calls
    apart in the intents' ids."""
    out: list[TransferIntent] = []
    stamp = now_ns // 1_000_000
    for venue, state in sorted(accounts.items()):
        acct = state.margin
        wallet = margin_wallet(acct.mode).value
        split = acct.mode is AccountMode.SPLIT
        prices = state.liquidation_prices  # worked out once per account state
        for p in sorted(acct.perps, key=lambda p: p.instrument_id):
            price = prices.get(p.instrument_id)
            if price is None or price <= 0 or p.mark <= 0 or abs(price / p.mark - 1) >= cfg.topup_below_pct:
                continue
            need = cash_for_distance(acct, p, cfg.topup_to_pct)
            if need < cfg.min_topup_usd:
                continue
            reason = f"liq_distance={abs(price / p.mark - 1):.4f}"
            free_margin = acct.transferable()
            if p.mode is MarginMode.ISOLATED and free_margin >= cfg.min_topup_usd:
                amount, src, dst, iid = min(need, free_margin), wallet, "isolated", p.instrument_id
            elif split and state.spot_free >= cfg.min_topup_usd:
                amount, src, dst, iid = min(need, state.spot_free), Wallet.SPOT.value, wallet, None
            else:
                continue  # no idle collateral (or a unified cross account: its coins already count)
            out.append(
                TransferIntent(
                    f"m-{venue}-{p.base}-{stamp}-{step}",
                    Origin.GOVERNOR,
                    "margin",
                    venue,
                    quote,
                    _usd(amount),
                    src,
                    dst,
                    now_ns,
                    iid,
                    reason,
                )
            )
            break
    return out
