"""`pressurebot replay` as a user runs it: report on stdout, one-line errors, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.replay import cli
from tests.replay.helpers import Rec, write_csv
from tests.replay.test_alerts_replay import PLAN, level


@pytest.fixture
def config(tmp_path: Path) -> str:
    # The hand-checked figures assume the design's original alert settings; the shipped
    # defaults were recalibrated later (docs/scoring.md, Evidence).
    path = tmp_path / "alerts.toml"
    path.write_text(
        '[alerts]\ndefault_min_band = "stretched"\ncooldown_minutes = 30\n'
        'default_kinds = ["bands", "squeeze"]\n'
    )
    return str(path)


@pytest.fixture
def data(tmp_path: Path) -> str:
    recs = [level(i, v) for i, v in enumerate(PLAN)] + [level(i, 0, "BBBUSDT") for i in range(13)]
    return str(write_csv(tmp_path / "h.csv.gz", recs, gz=True))


def replay(config: str, *args: str) -> int:
    return main(["--config", config, "replay", *args])


def test_json_report(config: str, data: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert replay(config, data, "--json", "--no-smooth-basis", "--split", "2025-01-01T06:00") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["meta"]["symbols"] == ["AAAUSDT", "BBBUSDT"]
    assert report["meta"]["basis_smoothing_hours"] == 1
    assert set(report["periods"]) == {"all", "fit", "verify"}
    everything = report["periods"]["all"]
    assert everything["hours"] == 24  # 12 scored hours each
    assert [b["share"] for b in everything["bands"]] == [0.75, 0.0833, 0.1667, 0.0]
    # AAA: 4 pushes over 1 symbol-day (24 symbol-hours).
    assert everything["alerts"]["pushes_per_symbol_day"] == 4.0
    assert everything["alerts"]["pushes_per_day_by_symbol"] == {"AAAUSDT": 8.0, "BBBUSDT": 0.0}
    assert report["periods"]["verify"]["alerts"]["pushes_per_symbol_day"] == round(
        2 * 24 / 14, 3
    )  # 8 and 10
    assert set(report["timing_seconds"]) == {"read", "score", "alerts", "total"}


def test_text_report_and_symbol_filter(
    config: str, data: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        replay(
            config,
            data,
            "--symbols",
            "aaa",
            "--from",
            "2025-01-01T02:00",
            "--to",
            "2025-01-01T09:00",
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "== all: 2025-01-01T03:00Z .. 2025-01-01T08:00Z" in out
    assert "AAAUSDT" in out and "BBBUSDT" not in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.csv"], "data file not found"),
        (["DATA", "--from", "soon"], "--from: bad date 'soon'"),
        (["DATA", "--split", "2025-13-01"], "--split: bad date"),
        (["DATA", "--symbols", "ZZZ"], "no rows for ZZZUSDT"),
        (["BAD"], "unknown column 'price'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    config: str,
    data: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    bad = write_csv(
        tmp_path / "bad.csv",
        [Rec(0)],
        header="ts,symbol,price,index_price,funding_8h,open_interest",
    )
    args = [{"DATA": data, "BAD": str(bad)}.get(a, a) for a in args]
    assert replay(config, *args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("pressurebot: ") and message in captured.err
    assert captured.err.count("\n") == 1


def test_without_a_path_it_replays_the_history_shipped_in_data() -> None:
    # A clone has the file (data/README.md) and the CLI finds it from any directory.
    shipped = Path(__file__).resolve().parents[2] / "data" / "perp_hourly_5coins_binance.csv.gz"
    assert shipped == cli.SHIPPED_HISTORY
    assert shipped.is_file()


def test_without_a_path_the_default_file_is_read(
    config: str, data: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Pointed at the small file: the real one is replayed whole in test_shared_file.py.
    monkeypatch.setattr(cli, "SHIPPED_HISTORY", Path(data))
    assert replay(config, "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["meta"]["file"] == data
    assert report["meta"]["symbols"] == ["AAAUSDT", "BBBUSDT"]


def test_without_a_path_and_without_the_shipped_file_is_one_line(
    config: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "SHIPPED_HISTORY", tmp_path / "gone.csv.gz")
    assert replay(config) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("pressurebot: no PATH given")
    assert "pass a CSV path" in captured.err and captured.err.count("\n") == 1
