"""S4 borrow cost: the kinked utilization curve of lending pools.

``U = borrows / (borrows + cash)``; below the kink the rate is ``base + U × slope1``; above it the slope steepens:
``base + kink × slope1 + (U − kink) × slope2``. Rates are annual fractions. The same curve prices a short-spot leg
in a strategy's edge and charges interest on the paper venue, so the estimate and the bill agree.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from bot.section import Section


class BorrowCurve(Section):
    base_apr: float = Field(0.02, ge=0.0, le=5.0)
    slope1: float = Field(0.10, ge=0.0, le=50.0, description="rate added per unit of utilization below the kink")
    slope2: float = Field(1.50, ge=0.0, le=500.0, description="steeper slope above the kink")
    kink: float = Field(0.80, gt=0.0, lt=1.0)
    pool_borrows_usd: float = Field(40_000_000, ge=0.0, description="others' borrows in the pool")
    pool_cash_usd: float = Field(60_000_000, gt=0.0, description="cash available in the pool")

    @model_validator(mode="after")
    def _steeper(self) -> BorrowCurve:
        if self.slope2 < self.slope1:
            raise ValueError("slope2 must be at least slope1 (the curve kinks upwards)")
        return self

    def utilization(self, extra_borrow_usd: float = 0.0) -> float:
        borrows = self.pool_borrows_usd + extra_borrow_usd
        cash = max(0.0, self.pool_cash_usd - extra_borrow_usd)
        total = borrows + cash
        return borrows / total if total > 0 else 1.0

    def rate(self, utilization: float) -> float:
        u = min(max(utilization, 0.0), 1.0)
        if u <= self.kink:
            return self.base_apr + u * self.slope1
        return self.base_apr + self.kink * self.slope1 + (u - self.kink) * self.slope2

    def rate_for(self, extra_borrow_usd: float) -> float:
        """The annual rate after borrowing ``extra_borrow_usd`` more (our own size moves the curve)."""
        return self.rate(self.utilization(extra_borrow_usd))
