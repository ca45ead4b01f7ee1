"""The base of every settings and rules section: frozen, no unknown key, no infinity or NaN (1e400 parses as inf)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)
