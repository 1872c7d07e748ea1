"""The words for how unusual a row is for its own symbol, pinned to the numbers: the
card and the push say "funding premium in its top 5% of 90 days" exactly when the row's
percentile says so, and nothing when it is unknown."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import pytest

from bot.scoring.percentile import cut_points, percentile_of
from bot.storage.outbox_repo import AlertItem
from bot.telegram.render.alerts import alert_message
from bot.telegram.render.market import symbol_card
from bot.telegram.render.unusual import unusual_line
from bot.views.market import MarketRow

NOW = 1_767_225_600_000

ROW = MarketRow(
    symbol="BTCUSDT", score=50, band="stretched", bias="LONG", regime="Long crowded",
    oi_1h_pct=1.0, oi_4h_pct=2.0, oi_24h_pct=3.0, funding_pct=0.01, funding_interval_hours=8,
    funding_8h_pct=0.01, basis_pct=0.1, mark_price=50_000.0, index_price=50_000.0,
    oi_contracts=200.0, oi_build=0.5, funding_st=0.2, basis_st=0.1, bias_value=0.3, ts_ms=NOW,
)  # fmt: skip


def pctl(funding: int | None = None, oi: int | None = None, basis: int | None = None) -> object:
    return SimpleNamespace(funding_pctl_90d=funding, oi_24h_pctl_90d=oi, basis_pctl_90d=basis)


@pytest.mark.parametrize(
    ("p", "words"),
    [
        (100, "funding premium in its top 5% of 90 days"),
        (95, "funding premium in its top 5% of 90 days"),
        (94, "funding premium in its top 10% of 90 days"),
        (90, "funding premium in its top 10% of 90 days"),
        (89, None),
        (50, None),
        (10, None),
        (9, "funding premium in its bottom 10% of 90 days"),
        (5, "funding premium in its bottom 10% of 90 days"),
        (4, "funding premium in its bottom 5% of 90 days"),
        (0, "funding premium in its bottom 5% of 90 days"),
        (None, None),
    ],
)
def test_the_tail_named_is_the_percentile_read(p: int | None, words: str | None) -> None:
    line = unusual_line(pctl(funding=p))
    assert line == (None if words is None else f"For this symbol: {words}")


def test_from_the_window_to_the_words() -> None:
    """A value above 96% of its 90 days reads "top 5%"; above 92% "top 10%"."""
    cuts = cut_points([float(i) for i in range(1000)])
    funding, oi = percentile_of(960.0, cuts), percentile_of(920.0, cuts)
    assert (funding, oi) == (96, 92)
    assert unusual_line(pctl(funding, oi)) == (
        "For this symbol: funding premium in its top 5% of 90 days"
        " · OI 24h in its top 10% of 90 days"
    )


def test_the_card_says_it_only_when_known() -> None:
    known = replace(ROW, funding_pctl_90d=97, oi_24h_pctl_90d=91, basis_pctl_90d=50)
    card = symbol_card(known, NOW)
    assert (
        "<i>For this symbol: funding premium in its top 5% of 90 days"
        " · OI 24h in its top 10% of 90 days</i>"
    ) in card
    assert "For this symbol" not in symbol_card(ROW, NOW)  # percentiles unknown
    calm = replace(ROW, funding_pctl_90d=60, oi_24h_pctl_90d=40, basis_pctl_90d=50)
    assert "For this symbol" not in symbol_card(calm, NOW)


def test_the_push_says_it_only_when_known() -> None:
    item = AlertItem(
        delivery_id=1, event_id=1, exchange="binance", symbol="SOLUSDT", kind="band",
        direction="up", from_band="lean", to_band="stretched", from_regime=None,
        to_regime=None, score=55, bias="SHORT", regime="Short crowded", oi_24h_pct=12.0,
        funding_8h_pct=-0.05, basis_pct=-0.1, event_ms=NOW,
    )  # fmt: skip
    assert "For this symbol" not in alert_message([item])
    unusual = replace(item, funding_pctl_90d=2, oi_24h_pctl_90d=98)
    assert (
        "<i>For this symbol: funding premium in its bottom 5% of 90 days"
        " · OI 24h in its top 5% of 90 days</i>"
    ) in alert_message([unusual])
