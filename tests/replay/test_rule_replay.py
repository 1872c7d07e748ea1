"""`pressurebot replay --rule`: a rule's backtest over a recorded CSV, and its errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.replay.test_replay_cli import config, data, replay  # noqa: F401  (fixtures)


def test_rule_json_report(config: str, data: str, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    assert replay(config, data, "--rule", "score >= 0 for 3 cycles", "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rule"] == "score >= 0 for 3 cycles"
    assert report["symbols"] == ["AAAUSDT", "BBBUSDT"]
    # Every scored hour holds, so each symbol fires once, on its third scored hour.
    assert report["fires"] == 2 and report["holding_hours"] == report["hours"]
    assert report["fires_by_symbol"] == {"AAAUSDT": 1, "BBBUSDT": 1}
    assert set(report["after_fires"]) == {"n", "median_abs_24h_pct", "p_move_5pct_24h"}
    assert report["all_hours"]["n"] <= report["hours"]


def test_rule_text_report_and_one_symbol(
    config: str,  # noqa: F811
    data: str,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert replay(config, data, "--rule", "score >= 0 on bbb") == 0
    out = capsys.readouterr().out
    assert out.startswith("rule: score >= 0 on bbb\nhistory: h.csv.gz, ")
    assert "\nsymbols: BBBUSDT\n" in out
    assert "fired 1 times" in out and "per symbol: BBBUSDT 1" in out
    assert "after it fired" in out and "all hours" in out


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("oi_4h > 8 and fundng > 1", "unknown field 'fundng'; did you mean funding"),
        ("score >", "at character 8 (the end)"),
        ("score > 1 on btc", "no history for btc (it has AAAUSDT, BBBUSDT)"),
        ("liq_1h_oi_pct > 1", "not measurable on recorded history (no liquidation history)"),
    ],
)
def test_bad_rule_is_one_line_and_exit_2(
    config: str,  # noqa: F811
    data: str,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    rule: str,
    message: str,
) -> None:
    assert replay(config, data, "--rule", rule) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("pressurebot: ")
    assert message in captured.err and captured.err.count("\n") == 1


def test_missing_file(config: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    assert replay(config, str(tmp_path / "none.csv"), "--rule", "score > 1") == 2
    assert capsys.readouterr().err.count("\n") == 1
