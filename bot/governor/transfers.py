"""Transfers through the one door: a wallet transfer or a margin top-up is approved or refused here, with the rules
that fired and their numbers (SPEC §4: transfers are governed, audited actions that move no equity).

A transfer moves no equity, so most rules have nothing to say about it. What can go wrong is the margin: moving USDT
*out* of a margin wallet can bring a position near liquidation, and moving more than the source has free fails at
the venue. So: G2 refuses a transfer its source cannot cover and one that would leave a position of the source's
margin account nearer to liquidation than ``topup_below_pct``; G7 caps one transfer's size; G8 lets transfers
*into* margin through in every state (they take risk off) and holds the others while the bot is not ACTIVE.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from bot.accounts import AccountState, Wallet, margin_wallet, spot_wallet
from bot.decisions import DenyCode, Outcome, RuleHit, RuleId, TradingState, TransferDecision
from bot.domain import Transfer, TransferIntent
from bot.governor.rules_config import RulesConfig


def _nearest(state: AccountState, cash_delta: float) -> float | None:
    """The margin account's nearest liquidation distance (fraction of mark) after moving ``cash_delta`` in."""
    acct = replace(state.margin, cash=state.margin.cash + cash_delta)
    best = None
    for p in acct.perps:
        price = acct.liquidation_price(p)
        if price is None or price <= 0 or p.mark <= 0:
            continue
        d = abs(price / p.mark - 1)
        best = d if best is None else min(best, d)
    return best


def decide_transfer(
    intent: TransferIntent,
    accounts: Mapping[str, AccountState],
    cfg: RulesConfig,
    trading_state: TradingState,
    now_ns: int,
    transfer_id: str,
) -> TransferDecision:
    state = accounts.get(intent.venue)
    amount = float(intent.amount)
    inputs: dict[str, float | int | str | None] = {
        "venue": intent.venue,
        "asset": intent.asset,
        "amount": amount,
        "from": intent.from_wallet,
        "to": intent.to_wallet,
        "instrument": intent.instrument_id,
    }

    def finish(outcome: Outcome, hits: tuple[RuleHit, ...]) -> TransferDecision:
        transfer = None
        if outcome is Outcome.APPROVE:
            transfer = Transfer(
                transfer_id,
                intent.intent_id,
                f"d-{intent.intent_id}",
                intent.venue,
                intent.asset,
                intent.amount,
                intent.from_wallet,
                intent.to_wallet,
                now_ns,
                intent.instrument_id,
            )
        return TransferDecision(f"d-{intent.intent_id}", intent, outcome, hits, transfer, trading_state, now_ns)

    def deny(rule: RuleId, code: DenyCode, **more: float | str | None) -> TransferDecision:
        return finish(Outcome.REJECT, (RuleHit(rule, code, 0.0, inputs | more),))

    if state is None:
        return deny(RuleId.G2, DenyCode.TRANSFER_UNKNOWN_ACCOUNT)
    mode = state.margin.mode
    wallets = {spot_wallet(mode).value, margin_wallet(mode).value}
    to_isolated = intent.to_wallet == "isolated"
    if (
        intent.from_wallet not in wallets
        or (intent.to_wallet not in wallets and not to_isolated)
        or (to_isolated and (intent.from_wallet != margin_wallet(mode).value or not intent.instrument_id))
    ):
        return deny(RuleId.G2, DenyCode.TRANSFER_UNKNOWN_WALLET, wallets=",".join(sorted(wallets)))
    into_margin = intent.to_wallet in (margin_wallet(state.margin.mode).value, "isolated")
    out_of_margin = intent.from_wallet == margin_wallet(state.margin.mode).value and intent.to_wallet != "isolated"
    if trading_state is not TradingState.ACTIVE and not into_margin:
        code = DenyCode.STATE_HALTED if trading_state is TradingState.HALTED else DenyCode.STATE_REDUCING
        return deny(RuleId.G8, code)
    if amount > cfg.g7.max_transfer_usd:
        return deny(RuleId.G7, DenyCode.MAX_TRANSFER, limit=cfg.g7.max_transfer_usd)
    free = state.spot_free if intent.from_wallet == Wallet.SPOT else state.margin.transferable()
    if amount > free:
        return deny(RuleId.G2, DenyCode.TRANSFER_SOURCE_SHORT, free=free)
    before = _nearest(state, 0.0)
    if out_of_margin:
        after = _nearest(state, -amount)
        if after is not None and after < cfg.g2.topup_below_pct:
            return deny(RuleId.G2, DenyCode.TRANSFER_WEAKENS_MARGIN, nearest_before=before, nearest_after=after)
        return finish(Outcome.APPROVE, ())
    after = _nearest(state, amount) if intent.to_wallet != "isolated" else None
    hit = RuleHit(RuleId.G2, DenyCode.MARGIN_TOPUP, 1.0, inputs | {"nearest_before": before, "nearest_after": after})
    return finish(Outcome.APPROVE, (hit,))
