"""The `NA` sentinel for GPU values NVML could not give, and the formatters that print it as "n/a".

Like nvitop's `NA`: a missing value is a value, so widgets format it instead of checking for None.
It is a one-member Enum (PEP 484's singleton pattern) so `x is NA` narrows types for mypy.
"""

from __future__ import annotations

import enum
from typing import Final, TypeVar, Union

T = TypeVar("T")


class NotApplicable(enum.Enum):
    """Type of `NA`. Falsy, prints as "n/a", and ignores format specs so f"{NA:.1f}" is "n/a" too."""

    NA = "n/a"

    def __str__(self) -> str:
        return "n/a"

    def __format__(self, format_spec: str) -> str:
        return "n/a"

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "NA"


NA: Final = NotApplicable.NA

MaybeFloat = Union[float, NotApplicable]
MaybeInt = Union[int, NotApplicable]
MaybeStr = Union[str, NotApplicable]

GIB = 1024**3


def is_na(value: object) -> bool:
    return value is NA


def or_default(value: T | NotApplicable, default: T) -> T:
    return default if value is NA else value


def ratio(part: MaybeFloat, whole: MaybeFloat) -> MaybeFloat:
    """`part / whole` in [0, 1], or NA when either is missing or the whole is zero."""
    if part is NA or whole is NA or whole <= 0:
        return NA
    return min(max(part / whole, 0.0), 1.0)


def fmt_percent(value: MaybeFloat) -> str:
    """37.4 → "37%"."""
    return "n/a" if value is NA else f"{value:.0f}%"


def fmt_celsius(value: MaybeFloat) -> str:
    return "n/a" if value is NA else f"{value:.0f}°C"


def fmt_watts(draw: MaybeFloat, limit: MaybeFloat) -> str:
    """Power as "312/700 W"; a missing half prints as n/a so the other half still shows."""
    if draw is NA and limit is NA:
        return "n/a W"
    return f"{draw:.0f}/{limit:.0f} W"


def fmt_gib_pair(used: MaybeFloat, total: MaybeFloat) -> str:
    """Bytes as "41.2/79.6G". One decimal keeps small models' memory visible on 80 GB cards."""
    if used is NA and total is NA:
        return "n/a"
    used_text = "n/a" if used is NA else f"{used / GIB:.1f}"
    total_text = "n/a" if total is NA else f"{total / GIB:.1f}"
    return f"{used_text}/{total_text}G"
