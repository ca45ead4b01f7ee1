from decimal import Decimal

from bot.domain import Fill, FundingPayment, Liquidity, Side
from bot.ledger import Ledger

D = Decimal


def _fill(iid: str, side: Side, qty: str, price: str, fee: str) -> Fill:
    return Fill("v", "t", "c", iid, side, D(qty), D(price), D(fee), Liquidity.TAKER, 0)


def test_parts_explain_a_round_trip_exactly() -> None:
    led = Ledger(D(10_000))
    # buy 2 @ 101 (mid 100, ask 100.5), sell 1 @ 109 (mid 110, bid 109.5), funding +3, mark 120
    led.apply_fill(_fill("x", Side.BUY, "2", "101", "0.2"), D(100), D("100.5"))
    led.apply_fill(_fill("x", Side.SELL, "1", "109", "0.1"), D(110), D("109.5"))
    led.apply_funding(FundingPayment("v", "x", 0, D("0.0001"), D(1), D(110), D(3)))
    parts = led.parts({"x": D(120)})
    assert parts.realized == D(10)  # 1 × (110 − 100) at mid
    assert parts.unrealized == D(20)  # 1 × (120 − 100)
    assert parts.spread == D("1.5")  # 2 × 0.5 + 1 × 0.5
    assert parts.slippage == D("1.5")  # 2 × (101 − 100.5) + 1 × (109.5 − 109)
    assert parts.fees == D("0.3") and parts.funding == D(3)
    # cash view: 10,000 − 202 − 0.2 + 109 − 0.1 + 3 + 1 × 120 = 10,029.7
    assert led.equity({"x": D(120)}) == D("10029.7")
    assert led.equity_estimate(lambda _: 120.0) == 10_029.7


def test_flip_through_zero_opens_the_rest_at_the_fill_reference() -> None:
    led = Ledger(D(0))
    led.apply_fill(_fill("x", Side.BUY, "1", "100", "0"), D(100), D(100))
    led.apply_fill(_fill("x", Side.SELL, "3", "90", "0"), D(90), D(90))
    book = led.legs["x"]
    assert (book.qty, book.avg_cost, book.realized) == (D(-2), D(90), D(-10))
