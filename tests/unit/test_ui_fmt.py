"""ui.fmt: every value formats to a short string; anything missing becomes "n/a"."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from ui import fmt

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)


def test_usd_formats_thousands_and_sign() -> None:
    assert fmt.usd(10482.371) == "$10,482.37"
    assert fmt.usd(-12.5) == "-$12.50"
    assert fmt.usd(82.37, sign=True) == "+$82.37"
    assert fmt.usd(-0.001) == "$0.00"


def test_pct_multiplies_fractions_by_100() -> None:
    assert fmt.pct(0.004523) == "0.45%"
    assert fmt.pct(0.048237, sign=True) == "+4.82%"
    assert fmt.pct(0.64, 0) == "64%"


def test_missing_or_non_numeric_values_become_na() -> None:
    for f in (fmt.usd, fmt.pct, fmt.ratio, fmt.price, fmt.qty, fmt.age, fmt.when, fmt.plain, fmt.signed):
        for bad in (None, "12", True, math.nan, math.inf, [], {}):
            assert f(bad) == fmt.NA, (f.__name__, bad)


def test_age_reads_like_a_human() -> None:
    assert fmt.age(42) == "42s"
    assert fmt.age(185) == "3m 05s"
    assert fmt.age(2 * 3600 + 14 * 60) == "2h 14m"
    assert fmt.age(3 * 86400 + 4 * 3600) == "3d 4h"


def test_price_and_qty_keep_the_decimals_that_matter() -> None:
    assert fmt.price(62410) == "62,410.00"
    assert fmt.price(3.14159) == "3.1416"
    assert fmt.price(0.0001234) == "0.000123"
    assert fmt.qty(-1.2) == "-1.2"
    assert fmt.qty(0.0) == "0"


def test_when_prints_utc() -> None:
    assert fmt.when(1_709_251_200) == "2024-03-01 00:00 UTC"


@given(json_values)
def test_no_formatter_raises_on_any_json_value(value: object) -> None:
    for f in (fmt.usd, fmt.pct, fmt.ratio, fmt.price, fmt.qty, fmt.age, fmt.when, fmt.plain,
              fmt.signed, fmt.label, fmt.compact):
        assert isinstance(f(value), str)
