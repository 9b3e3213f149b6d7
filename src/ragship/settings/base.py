"""What every settings section shares: unknown keys are errors, and validation errors read as one line."""

from __future__ import annotations

from typing import Sequence

from pydantic import BaseModel, ConfigDict

DURATION = r"^\d+(\.\d+)?[smhd]$"  # "90s", "30m", "24h", "7d"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt key is an error, not silently ignored


def problems(errors: Sequence) -> str:
    """Pydantic's errors (`ValidationError.errors()`) as one line, "FIELD: what is wrong; ...": the settings',
    the API's and the MCP tools'."""
    return "; ".join(f"{'.'.join(map(str, err['loc'])) or 'body'}: {err['msg']}" for err in errors)[:2000]


def duration_s(text: str) -> float:
    """"90s", "30m", "24h", "7d" → seconds."""
    return float(text[:-1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[text[-1]]
