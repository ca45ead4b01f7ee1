"""G4 expiry calendars.

- CME Bitcoin futures stop trading at 16:00 London time on the last Friday of the contract month; when that Friday is
  not a business day in both the UK and the US (a holiday in either), the final day is the preceding common
  business day.
- Binance, Bybit, OKX and Deribit quarterlies expire at 08:00 UTC on the last Friday of March, June, September and
  December.
- A venue-provided expiry (an instrument's ``ts_expiry_ns``) wins over the calendar where it is known.

Holidays are computed, not listed per year: England-and-Wales bank holidays (with weekend substitution and the one-off
days proclaimed since 2011) and the CME/NYSE closures (with Saturday→Friday and Sunday→Monday observance).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from bot.domain import NS_PER_SEC

LONDON = ZoneInfo("Europe/London")
QUARTER_MONTHS = (3, 6, 9, 12)
CME_MONTH_CODES = "FGHJKMNQUVXZ"
VENUES = ("cme", "binance", "bybit", "okx", "deribit")
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")

# England and Wales: days moved or added by proclamation since 2011
_UK_ONE_OFF_ADD = {date(2011, 4, 29), date(2012, 6, 5), date(2022, 6, 3), date(2022, 9, 19), date(2023, 5, 8)}
_UK_MOVED = {
    date(2012, 5, 28): date(2012, 6, 4),
    date(2020, 5, 4): date(2020, 5, 8),
    date(2022, 5, 30): date(2022, 6, 2),
}
# US market closures beyond the rules (national days of mourning)
_US_ONE_OFF = {date(2018, 12, 5), date(2025, 1, 9)}


def easter_sunday(year: int) -> date:
    """Anonymous Gregorian algorithm (Meeus/Jones/Butcher)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l_) // 451
    month = (h + l_ - 7 * m + 114) // 31
    day = (h + l_ - 7 * m + 114) % 31 + 1
    return date(year, month, day)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """n-th (1-based) weekday of a month; n = -1 for the last."""
    if n > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    last = nxt - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


@lru_cache(maxsize=256)
def uk_holidays(year: int) -> frozenset[date]:
    easter = easter_sunday(year)
    days = {
        easter - timedelta(days=2),
        easter + timedelta(days=1),
        _nth_weekday(year, 5, 0, 1),
        _nth_weekday(year, 5, 0, -1),
        _nth_weekday(year, 8, 0, -1),
    }
    ny = date(year, 1, 1)
    days.add(ny if ny.weekday() < 5 else ny + timedelta(days=7 - ny.weekday()))
    xmas, boxing = date(year, 12, 25), date(year, 12, 26)
    if xmas.weekday() == 5:  # Saturday: Mon 27 and Tue 28
        days |= {date(year, 12, 27), date(year, 12, 28)}
    elif xmas.weekday() == 6:  # Sunday: Boxing Day Mon 26, Christmas substitute Tue 27
        days |= {boxing, date(year, 12, 27)}
    elif boxing.weekday() == 5:  # Friday Christmas: Boxing Day substitute Mon 28
        days |= {xmas, date(year, 12, 28)}
    else:
        days |= {xmas, boxing}
    days = {_UK_MOVED.get(d, d) for d in days}
    return frozenset(days | {d for d in _UK_ONE_OFF_ADD if d.year == year})


def _observed_us(d: date) -> date:
    return d - timedelta(days=1) if d.weekday() == 5 else d + timedelta(days=1) if d.weekday() == 6 else d


@lru_cache(maxsize=256)
def us_holidays(year: int) -> frozenset[date]:
    """CME/NYSE full-day closures."""
    days = {
        _nth_weekday(year, 1, 0, 3),
        _nth_weekday(year, 2, 0, 3),
        easter_sunday(year) - timedelta(days=2),
        _nth_weekday(year, 5, 0, -1),
        _nth_weekday(year, 9, 0, 1),
        _nth_weekday(year, 11, 3, 4),
        _observed_us(date(year, 7, 4)),
        _observed_us(date(year, 12, 25)),
    }
    ny = date(year, 1, 1)
    if ny.weekday() != 5:  # a Saturday New Year's Day is not observed on the Friday before (NYSE rule)
        days.add(_observed_us(ny))
    if year >= 2022:
        days.add(_observed_us(date(year, 6, 19)))
    return frozenset(days | {d for d in _US_ONE_OFF if d.year == year})


def is_common_business_day(d: date) -> bool:
    return d.weekday() < 5 and d not in uk_holidays(d.year) and d not in us_holidays(d.year)


def last_friday(year: int, month: int) -> date:
    return _nth_weekday(year, month, 4, -1)


def cme_final_trading(year: int, month: int) -> datetime:
    d = last_friday(year, month)
    while not is_common_business_day(d):
        d -= timedelta(days=1)
    return datetime.combine(d, time(16, 0), tzinfo=LONDON).astimezone(UTC)


def venue_quarterly_expiry(year: int, month: int) -> datetime:
    return datetime.combine(last_friday(year, month), time(8, 0), tzinfo=UTC)


def contract_name(venue: str, base: str, expiry: datetime) -> str:
    yy, mm, dd = expiry.strftime("%y"), expiry.month, expiry.day
    if venue == "cme":
        return f"{base}{CME_MONTH_CODES[mm - 1]}{yy}"
    if venue == "okx":
        return f"{base}-USD-{yy}{mm:02d}{dd:02d}"
    if venue == "binance":
        return f"{base}USD_{yy}{mm:02d}{dd:02d}"
    return f"{base}-{dd}{_MONTHS[mm - 1]}{yy}"  # Deribit and Bybit style


@dataclass(frozen=True, slots=True)
class Expiry:
    venue: str
    contract: str
    final_trading_utc: datetime
    blackout_start_utc: datetime
    blackout_end_utc: datetime
    final_week_start_utc: datetime
    funding_discount_start_utc: datetime

    def as_json(self) -> dict[str, str]:
        def iso(x: datetime) -> str:
            return x.isoformat().replace("+00:00", "Z")

        return {
            "venue": self.venue,
            "contract": self.contract,
            "final_trading_utc": iso(self.final_trading_utc),
            "blackout_start_utc": iso(self.blackout_start_utc),
            "blackout_end_utc": iso(self.blackout_end_utc),
            "final_week_start_utc": iso(self.final_week_start_utc),
        }


def make_expiry(
    venue: str, contract: str, final: datetime, blackout_hours: float, final_week_days: float, discount_days: float
) -> Expiry:
    return Expiry(
        venue,
        contract,
        final,
        final - timedelta(hours=blackout_hours),
        final,
        final - timedelta(days=final_week_days),
        final - timedelta(days=discount_days),
    )


def expiries(
    start: date,
    end: date,
    venues: tuple[str, ...] = VENUES,
    base: str = "BTC",
    blackout_hours: float = 48,
    final_week_days: float = 7,
    discount_days: float = 14,
) -> list[Expiry]:
    """Quarterly expiries with final trading time in [start, end), sorted by time then venue."""
    out = []
    for year in range(start.year, end.year + 1):
        for month in QUARTER_MONTHS:
            for venue in venues:
                final = cme_final_trading(year, month) if venue == "cme" else venue_quarterly_expiry(year, month)
                if start <= final.date() < end:
                    out.append(
                        make_expiry(
                            venue,
                            contract_name(venue, base, final),
                            final,
                            blackout_hours,
                            final_week_days,
                            discount_days,
                        )
                    )
    return sorted(out, key=lambda e: (e.final_trading_utc, e.venue))


@dataclass(frozen=True, slots=True)
class ExpiryPhase:
    """Where ``now`` stands relative to the nearest coming expiry of the calendars in force."""

    next_final_ns: int | None
    hours_to_final: float | None
    in_blackout: bool
    in_final_week: bool
    in_funding_discount: bool
    venue: str | None


NO_PHASE = ExpiryPhase(None, None, False, False, False, None)


@lru_cache(maxsize=16)
def _finals(calendars: tuple[str, ...], first_year: int, last_year: int) -> tuple[tuple[int, str], ...]:
    """(final trading time in ns, 'cme' | 'venue'), sorted; computed once per calendar set."""
    venues = (("cme",) if "cme" in calendars else ()) + (("binance",) if "venue" in calendars else ())
    return tuple(
        sorted(
            {
                (int(e.final_trading_utc.timestamp()) * NS_PER_SEC, "cme" if e.venue == "cme" else "venue")
                for e in expiries(date(first_year, 1, 1), date(last_year + 1, 1, 1), venues)
            }
        )
    )


class ExpiryCalendar:
    """Precomputed final trading times (per calendar), answering 'which phase is now?' in O(log n)."""

    def __init__(
        self,
        calendars: tuple[str, ...],
        first_year: int = 2019,
        last_year: int = 2035,
        blackout_hours: float = 48,
        final_week_days: float = 7,
        discount_days: float = 14,
    ) -> None:
        finals = _finals(tuple(sorted(set(calendars))), first_year, last_year)
        self._ts = [t for t, _ in finals]
        self._venue = [v for _, v in finals]
        self._blackout_ns = int(blackout_hours * 3600 * NS_PER_SEC)
        self._week_ns = int(final_week_days * 86_400 * NS_PER_SEC)
        self._discount_ns = int(discount_days * 86_400 * NS_PER_SEC)
        self._quiet: tuple[int, int, ExpiryPhase] | None = None  # (from, until, phase): outside every window

    def phase(self, now_ns: int) -> ExpiryPhase:
        """The phase at ``now_ns``. Far from any expiry (outside every window) the same phase object is returned
        until the nearest discount window opens: ``hours_to_final`` is exact inside the windows, where G4 reads it."""
        q = self._quiet
        if q is not None and q[0] <= now_ns < q[1]:
            return q[2]
        i = bisect_left(self._ts, now_ns + 1)  # first final strictly after now
        if i >= len(self._ts):
            return NO_PHASE
        # the nearest expiry decides the blackout; a second calendar's expiry a day later may be tighter
        best = NO_PHASE
        for j in range(i, min(i + 2, len(self._ts))):
            left = self._ts[j] - now_ns
            ph = ExpiryPhase(
                self._ts[j],
                left / 3.6e12,
                left <= self._blackout_ns,
                left <= self._week_ns,
                left <= self._discount_ns,
                self._venue[j],
            )
            if best is NO_PHASE or (ph.in_blackout, ph.in_final_week, ph.in_funding_discount) > (
                best.in_blackout,
                best.in_final_week,
                best.in_funding_discount,
            ):
                best = ph
        if not (best.in_blackout or best.in_final_week or best.in_funding_discount):
            self._quiet = (self._ts[i - 1] if i > 0 else -(2**62), self._ts[i] - self._discount_ns, best)
        return best
