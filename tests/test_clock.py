import asyncio
import time

from bot.clock import PacedClock, SimClock


def test_sim_clock_jumps_and_never_goes_back() -> None:
    c = SimClock(1_000)
    asyncio.run(c.sleep_until(5_000))
    assert c.now_ns() == 5_000
    asyncio.run(c.sleep_until(2_000))
    assert c.now_ns() == 5_000
    asyncio.run(c.sleep(1.5))
    assert c.now_ns() == 5_000 + 1_500_000_000


def test_paced_clock_takes_wall_time_in_proportion() -> None:
    c = PacedClock(0, speed=100.0)
    t0 = time.monotonic()
    asyncio.run(c.sleep_until(10 * 1_000_000_000))  # 10 simulated seconds at 100x
    assert time.monotonic() - t0 >= 0.09
    assert c.now_ns() == 10 * 1_000_000_000
