"""The provenance rule every data file follows: a number says where it comes from."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, model_validator

__all__ = ["Provenance", "Strict"]


class Strict(BaseModel):
    """A model that refuses unknown fields and cannot be changed after validation."""

    model_config = ConfigDict(extra="forbid", frozen=True)


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
