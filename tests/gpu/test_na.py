from __future__ import annotations

from vllm_tui.gpu.na import (
    GIB,
    NA,
    fmt_celsius,
    fmt_gib_pair,
    fmt_percent,
    fmt_watts,
    is_na,
    or_default,
    ratio,
)


def test_na_prints_as_na_whatever_the_format_spec() -> None:
    assert str(NA) == "n/a"
    assert f"{NA:.1f}%" == "n/a%"
    assert repr(NA) == "NA"
    assert not NA
    assert is_na(NA) and not is_na(0)
    assert or_default(NA, 3) == 3 and or_default(0, 3) == 0


def test_formatters_print_values_and_missing_halves() -> None:
    assert fmt_percent(37.4) == "37%"
    assert fmt_percent(NA) == "n/a"
    assert fmt_celsius(54.0) == "54°C"
    assert fmt_celsius(NA) == "n/a"
    assert fmt_watts(312.4, 700.0) == "312/700 W"
    assert fmt_watts(NA, 700.0) == "n/a/700 W"
    assert fmt_watts(NA, NA) == "n/a W"
    assert fmt_gib_pair(41.25 * GIB, 80 * GIB) == "41.2/80.0G"
    assert fmt_gib_pair(NA, 80 * GIB) == "n/a/80.0G"
    assert fmt_gib_pair(NA, NA) == "n/a"


def test_ratio_is_clamped_and_na_when_undefined() -> None:
    assert ratio(1, 4) == 0.25
    assert ratio(5, 4) == 1.0
    assert ratio(NA, 4) is NA
    assert ratio(1, 0) is NA
