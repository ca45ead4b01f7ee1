"""G4 calendars: CME 16:00 London on the last Friday (common UK/US business day), crypto venues 08:00 UTC."""

import json
from datetime import UTC, date, datetime

import pytest

from bot.cli import main
from bot.governor.calendar import (
    ExpiryCalendar,
    cme_final_trading,
    easter_sunday,
    expiries,
    uk_holidays,
    us_holidays,
    venue_quarterly_expiry,
)


def utc(*a: int) -> datetime:
    return datetime(*a, tzinfo=UTC)


@pytest.mark.parametrize(
    "year, month, expected",
    [
        (2024, 3, utc(2024, 3, 28, 16)),  # last Friday 29 Mar is Good Friday: Thursday, GMT
        (2024, 6, utc(2024, 6, 28, 15)),  # BST: 16:00 London is 15:00 UTC
        (2025, 12, utc(2025, 12, 24, 16)),  # 26 Dec Boxing Day (UK), 25 Dec Christmas: Wednesday 24th
        (2026, 12, utc(2026, 12, 24, 16)),  # 25 Dec is the last Friday itself
        # 31 Dec 2021: the UK moved Christmas/Boxing Day to 27/28 Dec, the US observed Christmas on Fri 24 Dec and does
        # not observe a Saturday New Year on the Friday before, so the last Friday is a common business day
        (2021, 12, utc(2021, 12, 31, 16)),
    ],
)
def test_cme_final_trading(year: int, month: int, expected: datetime) -> None:
    assert cme_final_trading(year, month) == expected


def test_crypto_quarterlies_expire_0800_utc_on_the_last_friday() -> None:
    assert venue_quarterly_expiry(2024, 3) == utc(2024, 3, 29, 8)  # Good Friday does not matter to them
    assert venue_quarterly_expiry(2026, 12) == utc(2026, 12, 25, 8)


def test_holidays() -> None:
    assert easter_sunday(2024) == date(2024, 3, 31) and easter_sunday(2025) == date(2025, 4, 20)
    assert {date(2022, 12, 26), date(2022, 12, 27)} <= uk_holidays(2022)  # Christmas on a Sunday
    assert date(2023, 5, 8) in uk_holidays(2023)  # coronation
    assert date(2021, 12, 24) in us_holidays(2021) and date(2022, 6, 20) in us_holidays(2022)  # observed days


def test_expiry_windows_and_phase() -> None:
    (cme,) = expiries(date(2024, 3, 1), date(2024, 3, 29), ("cme",))
    assert cme.as_json() == {
        "venue": "cme",
        "contract": "BTCH24",
        "final_trading_utc": "2024-03-28T16:00:00Z",
        "blackout_start_utc": "2024-03-26T16:00:00Z",
        "blackout_end_utc": "2024-03-28T16:00:00Z",
        "final_week_start_utc": "2024-03-21T16:00:00Z",
    }
    cal = ExpiryCalendar(("cme", "venue"))
    ns = 10**9
    assert cal.phase(int(utc(2024, 3, 27, 9).timestamp()) * ns).in_blackout  # CME in 31h, Binance in 47h
    ph = cal.phase(int(utc(2024, 3, 25, 0).timestamp()) * ns)
    assert (ph.in_blackout, ph.in_final_week, ph.in_funding_discount) == (False, True, True)
    ph = cal.phase(int(utc(2024, 2, 1).timestamp()) * ns)
    assert not ph.in_funding_discount
    assert not cal.phase(int(utc(2024, 3, 29, 9).timestamp()) * ns).in_funding_discount  # after both


def test_calendar_cli_prints_json(capsys) -> None:
    assert main(["calendar", "--venue", "okx", "--from", "2024-01-01", "--to", "2024-07-01", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["contract"] for r in rows] == ["BTC-USD-240329", "BTC-USD-240628"]
    assert rows[0]["final_trading_utc"] == "2024-03-29T08:00:00Z"
    assert main(["calendar", "--from", "2024-07-01", "--to", "2024-01-01", "--json"]) == 2


def test_the_quiet_phase_cache_answers_exactly_like_a_fresh_lookup() -> None:
    """Far from expiries the calendar reuses one phase object; its flags and next final must match a fresh
    calendar's at every instant, whatever order the instants come in."""
    import random

    from bot.governor.calendar import ExpiryCalendar

    rng = random.Random(5)
    cached = ExpiryCalendar(("cme", "venue"))
    start, end = 1_672_531_200 * 10**9, 1_735_689_600 * 10**9  # 2023 → 2025
    times = sorted(rng.randrange(start, end) for _ in range(3_000)) + [rng.randrange(start, end) for _ in range(500)]
    for t in times:
        a, b = cached.phase(t), ExpiryCalendar(("cme", "venue")).phase(t)
        assert (a.in_blackout, a.in_final_week, a.in_funding_discount, a.next_final_ns, a.venue) == (
            b.in_blackout,
            b.in_final_week,
            b.in_funding_discount,
            b.next_final_ns,
            b.venue,
        )
        if a.in_funding_discount:
            assert a.hours_to_final == b.hours_to_final
