"""The bundled replay data sits on one clock: every venue's prices at the funding settlement they are paired with.

The source's Bybit and OKX bars were half a bar (4 h) early; ``bot.data.build.retime`` fixes that (SOURCE.md). On
the old file the same-stamp spot returns of Binance and Bybit/OKX correlated 0.469 and their opens differed by up to
8.5 %; these tests fail on it.
"""

from __future__ import annotations

import csv
import gzip
import math
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import pytest

from bot.data.build import BAR_SECS, HEADER, build

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _bundled() -> dict[tuple[str, str, str], dict[int, dict[str, str]]]:
    out: dict[tuple[str, str, str], dict[int, dict[str, str]]] = {}
    with resources.files("bot.data").joinpath("funding_8h.csv.gz").open("rb") as raw:
        for r in csv.DictReader(gzip.open(raw, "rt")):
            out.setdefault((r["venue"], r["base"], r["kind"]), {})[int(r["ts"])] = r
    return out


DATA = _bundled()


def _corr(a: list[float], b: list[float]) -> float:
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    cov = sum((x - ma) * (y - mb) for x, y in zip(a, b, strict=True))
    return cov / math.sqrt(sum((x - ma) ** 2 for x in a) * sum((y - mb) ** 2 for y in b))


def _returns(series: dict[int, dict[str, str]], kind: str = "open") -> dict[int, float]:
    return {
        t: math.log(float(series[t + BAR_SECS][kind]) / float(r[kind]))
        for t, r in series.items()
        if t + BAR_SECS in series
    }


@pytest.mark.parametrize("base", ["BTC", "ETH"])
@pytest.mark.parametrize("venue", ["bybit", "okx"])
@pytest.mark.parametrize("kind", ["spot", "perp"])
def test_same_asset_returns_agree_across_venues_at_lag_zero(base: str, venue: str, kind: str) -> None:
    ref = _returns(DATA[("binance", base, kind)])
    other = _returns(DATA[(venue, base, kind)])
    common = sorted(set(ref) & set(other))
    assert len(common) > 1600
    assert _corr([ref[t] for t in common], [other[t] for t in common]) >= 0.99


@pytest.mark.parametrize("base", ["BTC", "ETH"])
@pytest.mark.parametrize("venue", ["binance", "bybit", "okx"])
def test_every_perp_price_sits_with_its_spot_at_the_settlement(base: str, venue: str) -> None:
    """At each stamp the perp and the spot (of every venue) are prices of the same moment: the perp sits within a
    basis of the anchor spot (old file: 95th percentile 2.0 %, max 8.5 %)."""
    spot = DATA[("binance", base, "spot")]
    perp = DATA[(venue, base, "perp")]
    gaps = sorted(abs(float(perp[t]["open"]) / float(spot[t]["open"]) - 1) for t in perp)
    assert {datetime.fromtimestamp(t, UTC).hour for t in perp} == {0, 8, 16}
    assert gaps[int(0.95 * len(gaps))] < 0.002
    assert gaps[-1] < 0.01


def test_binance_opens_match_an_independent_utc_daily_series() -> None:
    """CryptoDataDownload's Binance daily bars (Unix ms, UTC) open at the bundled 00:00 UTC open, to the cent, and
    every venue's 00:00 spot open agrees with it."""
    daily = {}
    with (FIXTURES / "cdd" / "Binance_BTCUSDT_d.csv").open() as fh:
        for r in csv.DictReader(fh):
            daily[int(r["Unix"]) // 1000] = float(r["Open"])
    for venue in ("binance", "bybit", "okx"):
        spot = DATA[(venue, "BTC", "spot")]
        hits = [t for t in daily if t in spot]
        assert len(hits) > 540
        assert all(float(spot[t]["open"]) == pytest.approx(daily[t], abs=0.005) for t in hits)


def test_retime_moves_an_early_venue_onto_the_settlement_clock(tmp_path: Path) -> None:
    """A source whose OKX bar stamped T holds T−4h/T+4h prices: the output's OKX perp is the anchor spot × OKX's own
    basis at the bar's ends; volume and funding stay OKX's."""
    src = tmp_path / "all.csv"
    lines = ["time,exchange,crypto,pair,contract,open,high,low,close,volume,funding rate"]
    for stamp, bn_open, bn_close, okx_spot, okx_perp in (
        ("2023-01-01 00:00:00", 100.0, 110.0, (95.0, 105.0), (95.95, 105.0)),
        ("2023-01-01 08:00:00", 110.0, 120.0, (105.0, 115.0), (105.0, 116.15)),
    ):
        lines.append(f"{stamp},binance,bitcoin,BTC/USDT,spot,{bn_open},{bn_close},{bn_open},{bn_close},1,")
        lines.append(f"{stamp},binance,bitcoin,BTCUSDT,perpetual,{bn_open},{bn_close},{bn_open},{bn_close},1,0.0001")
        lines.append(f"{stamp},okx,bitcoin,BTC/USDT,spot,{okx_spot[0]},{okx_spot[1]},{okx_spot[0]},{okx_spot[1]},2,")
        lines.append(
            f"{stamp},okx,bitcoin,BTCUSDT,perpetual,{okx_perp[0]},{okx_perp[1]},{okx_perp[0]},{okx_perp[1]},3,0.0002"
        )
    src.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.csv.gz"
    assert build(src, out) == 8
    rows = list(csv.reader(gzip.open(out, "rt")))
    assert tuple(rows[0]) == HEADER
    okx_perp_0 = next(r for r in rows[1:] if r[0] == "1672531200" and r[1] == "okx" and r[3] == "perp")
    okx_spot_0 = next(r for r in rows[1:] if r[0] == "1672531200" and r[1] == "okx" and r[3] == "spot")
    # basis at T−4h 1.01, at T+4h 1.00, at T+12h 1.01: open 100 × √1.01, close 110 × √1.01
    assert float(okx_perp_0[4]) == pytest.approx(100 * math.sqrt(1.01), rel=1e-9)
    assert float(okx_perp_0[7]) == pytest.approx(110 * math.sqrt(1.01), rel=1e-9)
    assert okx_perp_0[8:] == ["3", "0.0002"]
    assert okx_spot_0[4:9] == ["100.0", "110.0", "100.0", "110.0", "2"]
