"""The provenance rule every data file follows: a number says where it comes from.

And the rule every number follows: it is finite and lies in a physically sensible range, checked
when the file is read (so that ``trainsim validate`` catches exactly what ``trainsim run`` would).
Each range states its basis where it is declared.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import AfterValidator, BaseModel, ConfigDict, model_validator

__all__ = ["Provenance", "Strict", "within"]


class Strict(BaseModel):
    """A model that refuses unknown fields, NaN and infinity, and cannot be changed."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Provenance(Strict):
    """Exactly one of ``source`` (where the numbers come from) or ``assumption`` (why chosen)."""

    source: str | None = None
    assumption: str | None = None

    @model_validator(mode="after")
    def _one_provenance(self) -> Provenance:
        if bool(self.source) == bool(self.assumption):
            msg = "give the 'source' of the numbers or the 'assumption' behind them (exactly one)"
            raise ValueError(msg)
        return self

    @property
    def provenance(self) -> str:
        return f"source: {self.source}" if self.source else f"assumption: {self.assumption}"


def within(lo: float, hi: float, unit: str = "", *, above: bool = False,
           whole: bool = False) -> AfterValidator:
    """A validator: the number (or a sourced number's ``value``) lies in ``[lo, hi]``.

    ``above`` makes the lower bound exclusive (``> lo``); ``whole`` asks for a whole number.
    The message names the bound that is broken: ``must be > 0``, ``must be ≤ 15000 kW``.
    """
    u = f" {unit}" if unit else ""

    def check(obj: Any) -> Any:
        value = getattr(obj, "value", obj)
        if value is None:
            return obj
        if not math.isfinite(value):
            msg = "must be a finite number"
        elif value <= 0 < lo:
            msg = "must be > 0"
        elif above and value <= lo:
            msg = f"must be > {lo:g}{u}"
        elif value < lo:
            msg = f"must be ≥ {lo:g}{u}"
        elif value > hi:
            msg = f"must be ≤ {hi:g}{u}"
        elif whole and value != int(value):
            msg = "must be a whole number"
        else:
            return obj
        raise ValueError(f"{msg} (got {value:g})")

    return AfterValidator(check)
