"""Every push and card carries one evidence line, worded from the table that
`pressurebot replay --evaluate --table-out` generates (bot/views/evidence_table.json); the
shipped table and docs/scoring.md's generated tables come from the same run."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from bot.scoring.explain import evidence_sentence
from bot.telegram.render.alerts import alert_message
from bot.telegram.render.market import symbol_card
from bot.views.evidence import alert_type, band_type, build_table, lookup
from tests.replay.test_replay_cli import config, data, replay  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = json.loads((ROOT / "bot" / "views" / "evidence_table.json").read_text())


def item(**kw: object) -> SimpleNamespace:
    base: dict[str, object] = {
        "symbol": "SOLUSDT",
        "kind": "band",
        "direction": "up",
        "from_band": "lean",
        "to_band": "stressed",
        "from_regime": None,
        "to_regime": None,
        "score": 66,
        "bias": "LONG",
        "regime": "Long crowded",
        "oi_24h_pct": 12.0,
        "funding_8h_pct": 0.05,
        "basis_pct": 0.1,
        "event_ms": 0,
    }
    return SimpleNamespace(**(base | kw))


def test_the_wording_is_the_evaluations_numbers(
    config: str,  # noqa: F811
    data: str,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    table_path = tmp_path / "table.json"
    args = ("--evaluate", "--json", "--split", "2025-01-01T06:00", "--table-out", str(table_path))
    assert replay(config, data, *args) == 0
    evaluation = json.loads(capsys.readouterr().out)
    table = json.loads(table_path.read_text())
    assert table == json.loads(json.dumps(build_table(evaluation)))
    verify = {r["name"]: r for r in evaluation["periods"]["verify"]["signals"]}
    alerts = [name for name, r in verify.items() if r["group"] == "alert"]
    assert alerts, "the small file has alerts (tests/replay/test_replay_cli.py)"
    for name in alerts:
        found = lookup(name, table)
        assert found is not None
        line = evidence_sentence(found)
        row = verify[name]
        if row["n"] and row["p_big"] is not None:
            usual = verify["all hours"]["p_big"]
            assert line == (
                f"after this alert: a ≥5% move within 24h {row['p_big']:.0%} of the time "
                f"(usually {usual:.0%}); n = {row['n']}, 2025"
            )
        else:
            assert line == "after this alert: no case to measure in 2025 (n = 0)"


def test_a_push_carries_its_line_from_the_shipped_table() -> None:
    entry = SHIPPED["types"]["band up to stressed"]
    text = alert_message([item()])
    expected = evidence_sentence(lookup("band up to stressed"))  # type: ignore[arg-type]
    assert expected in text
    assert f"n = {entry['n']}, {SHIPPED['years']}" in text
    # A squeeze push is named by its side.
    name = alert_type("squeeze", "enter", None, None, "Short squeeze risk")
    assert name == "squeeze enter short"
    squeeze = item(kind="squeeze", direction="enter", to_regime="Short squeeze risk")
    if name in SHIPPED["types"]:
        assert evidence_sentence(lookup(name)) in alert_message([squeeze])  # type: ignore[arg-type]


def test_a_card_says_what_followed_a_move_into_its_band() -> None:
    row = SimpleNamespace(
        symbol="SOLUSDT", score=40, band="stretched", bias="LONG", regime="Net long bias building",
        funding_interval_hours=8, oi_1h_pct=1.0, oi_4h_pct=2.0, oi_24h_pct=3.0,
        funding_pct=0.02, funding_8h_pct=0.02, basis_pct=0.01, mark_price=100.0,
        index_price=100.0, oi_build=0.2, funding_st=0.2, basis_st=0.1, ts_ms=0,
    )  # fmt: skip
    card = symbol_card(row, 0)
    assert band_type("stretched") == "band up to stretched"
    line = evidence_sentence(lookup("band up to stretched"), card=True)  # type: ignore[arg-type]
    assert line.startswith("after a rise into stretched: a ≥5% move within 24h ")
    assert line in card


def test_the_shipped_table_and_the_docs_come_from_one_run() -> None:
    # docs/scoring.md's generated verify table lists n and P(>=5%) for every alert type.
    docs = (ROOT / "docs" / "scoring.md").read_text()
    block = docs[docs.index("<!-- evidence:begin") : docs.index("<!-- evidence:end")]
    verify = block[block.index("**verify**") :]
    for name, entry in SHIPPED["types"].items():
        match = re.search(
            rf"^\| {re.escape(name)} \| (\d+) \| [^|]+ \| [^|]+ \| ([^|]+) \|", verify, re.M
        )
        assert match, name
        assert int(match.group(1)) == entry["n"]
        if entry["p_big"] is not None:
            assert match.group(2).strip() == f"{100 * entry['p_big']:.0f}%"


def test_a_compact_digest_carries_one_evidence_line_per_alert_type() -> None:
    # More than DIGEST_FULL alerts: one line per alert, and one evidence line per alert
    # type present, worded from the shipped table's numbers.
    items = [item(symbol=f"C{i}USDT", score=70 - i) for i in range(7)]
    items += [item(symbol=f"D{i}USDT", direction="down", to_band="stretched") for i in range(3)]
    items.append(item(symbol="RULEUSDT", kind="rule:7", direction="enter", rule_name="hot"))
    text = alert_message(items)
    assert text.startswith("<b>11 alerts</b>")
    usual = f"{SHIPPED['usual_p_big']:.0%}"
    for name, subject in (
        ("band up to stressed", "a rise into stressed"),
        ("band down to stretched", "a fall to stretched"),
    ):
        entry = SHIPPED["types"][name]
        line = (
            f"after {subject}: a ≥5% move within 24h {entry['p_big']:.0%} of the time "
            f"(usually {usual}); n = {entry['n']}, {SHIPPED['years']}"
        )
        assert text.count(line) == 1, (line, text)
    # A chat's own rule is not an alert type the evaluation measured: no line for it,
    # and never another type's numbers.
    assert text.count("after ") == 2
    assert alert_type("rule:7", "enter", None, None, None) is None


def test_a_squeeze_type_is_named_by_who_pays_never_by_a_direction() -> None:
    from bot.scoring.explain import alert_subject

    assert alert_subject("squeeze enter long") == "longs pay, OI building (start)"
    assert alert_subject("squeeze exit short") == "shorts pay, OI building (end)"
