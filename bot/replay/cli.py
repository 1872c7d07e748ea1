"""`pressurebot replay [PATH] [--symbols ...] [--from DATE] [--to DATE] [--split DATE]
[--smooth-hours N | --no-smooth-basis] [--same-row-basis] [--json]
[--evaluate [--markdown]] [--events-out FILE.jsonl] [--from-db [--exchange X]]`.

Without PATH it replays the history shipped in the repository (data/README.md); with
`--from-db`, the deployment's own hourly store (bot/replay/from_db.py), split into fit
and verify at the middle of what is stored unless `--split` says otherwise.
Prints the report (bot.replay.summary) on stdout, or with `--evaluate` the evaluation
(bot.replay.evaluate) split into fit and verify at `--split` (default 2025-03-01).
`--events-out` writes every push of the default subscriber, one JSON object a line.
Bad input (a missing or unreadable file, a wrong header, a bad date, an unknown symbol,
an unwritable --events-out) is one line on stderr and exit 2.
`--from` is inclusive and `--to` exclusive; both are UTC dates or date-times.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.replay.alerts import AlertRecord
from bot.replay.data import (
    FORMAT_OHLC_MARK,
    HOUR_MS,
    SHIPPED_HISTORY,
    History,
    ReplayInputError,
    parse_time,
    read_history,
)
from bot.replay.evaluate_text import events_jsonl, render_markdown, splice
from bot.replay.evaluate_text import render_text as render_evaluation
from bot.replay.from_db import read_store
from bot.replay.full_evaluation import DEFAULT_SPLIT, MARKDOWN_COMMAND, evaluate_replay
from bot.replay.run import BasisOptions, Replay, replay
from bot.replay.summary import build_report, render_text
from bot.views.evidence import build_table

EXIT_INPUT = 2


async def run_replay(settings: Settings, args: argparse.Namespace) -> int:
    started = time.perf_counter()
    try:
        options = _options(args)
        if getattr(args, "from_db", False):
            path, history = await _from_db(settings, args, options)
        else:
            path = _path(args.path)
            history = read_history(
                path,
                symbols=options["symbols"],
                start_ms=options["start_ms"],
                end_ms=options["end_ms"],
            )
        _check_found(history, options["symbols"], path)
        if getattr(args, "events_out", None):
            _write_events(args.events_out, [])  # a bad path is told before the replay
    except ReplayInputError as exc:
        print(f"pressurebot: {exc}", file=sys.stderr)
        return EXIT_INPUT
    read_seconds = time.perf_counter() - started

    # Partial cycles (a gap in most symbols at once) are counted in the report; one
    # warning per such hour from the engine would only bury it.
    alerts_logger = logging.getLogger("bot.alerts")
    level = alerts_logger.level
    alerts_logger.setLevel(logging.ERROR)
    try:
        result = await replay(settings, history, basis=options["basis"])
    finally:
        alerts_logger.setLevel(level)

    if getattr(args, "events_out", None):
        try:
            _write_events(args.events_out, result.alerts.records)
        except ReplayInputError as exc:
            print(f"pressurebot: {exc}", file=sys.stderr)
            return EXIT_INPUT
    if getattr(args, "evaluate", False):
        return _print_evaluation(args, result, options["split_ms"], started)
    report = build_report(
        result.scored,
        result.alerts.records,
        split_ms=options["split_ms"],
        meta=_meta(path, settings, history, options["basis"], result),
    )
    report["timing_seconds"] = {
        "read": round(read_seconds, 1),
        "score": round(result.score_seconds, 1),
        "alerts": round(result.alerts.seconds, 1),
        "total": round(time.perf_counter() - started, 1),
    }
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print(render_text(report))
        print("\ntiming (s): " + ", ".join(f"{k} {v}" for k, v in report["timing_seconds"].items()))
    return 0


async def _from_db(
    settings: Settings, args: argparse.Namespace, options: dict[str, Any]
) -> tuple[str, History]:
    if args.path is not None:
        raise ReplayInputError("give a PATH or --from-db, not both")
    history, exchange = await read_store(
        settings,
        getattr(args, "exchange", None),
        symbols=options["symbols"],
        start_ms=options["start_ms"],
        end_ms=options["end_ms"],
    )
    if options["split_ms"] is None:  # no fit period was chosen: halve what is stored
        times = [r.ts_ms for rows in history.rows.values() for r in rows]
        if times:
            middle = (min(times) + max(times)) // 2
            options["split_ms"] = middle - middle % HOUR_MS
    return f"hourly store ({exchange})", history


def _write_events(path: str, records: list[AlertRecord]) -> None:
    try:
        with open(path, "w", encoding="utf-8") as out:
            for line in events_jsonl(records):
                out.write(line + "\n")
    except OSError as exc:
        raise ReplayInputError(f"--events-out: cannot write {path}: {exc.strerror}") from None


def _print_evaluation(
    args: argparse.Namespace, result: Replay, split_ms: int | None, started: float
) -> int:
    split = split_ms if split_ms is not None else parse_time(DEFAULT_SPLIT)
    evaluation = evaluate_replay(result.scored, result.alerts.records, split)
    evaluation["timing_seconds"] = round(time.perf_counter() - started, 1)
    try:
        _write_outputs(args, evaluation)
    except ReplayInputError as exc:
        print(f"pressurebot: {exc}", file=sys.stderr)
        return EXIT_INPUT
    if args.json:
        print(json.dumps(evaluation, ensure_ascii=False))
    elif getattr(args, "markdown", False):
        print(render_markdown(evaluation, command=MARKDOWN_COMMAND))
    else:
        print(render_evaluation(evaluation))
        print(f"\ntiming (s): total {evaluation['timing_seconds']}")
    return 0


def _write_outputs(args: argparse.Namespace, evaluation: dict[str, Any]) -> None:
    """--table-out (the shipped evidence table) and --markdown-out (docs/scoring.md)."""
    table_out = getattr(args, "table_out", None)
    markdown_out = getattr(args, "markdown_out", None)
    try:
        if table_out:
            text = json.dumps(build_table(evaluation), indent=1, ensure_ascii=False)
            Path(table_out).write_text(text + "\n", encoding="utf-8")
        if markdown_out:
            doc = Path(markdown_out)
            generated = render_markdown(evaluation, command=MARKDOWN_COMMAND)
            doc.write_text(splice(doc.read_text(encoding="utf-8"), generated), encoding="utf-8")
    except OSError as exc:
        raise ReplayInputError(f"cannot write {exc.filename}: {exc.strerror}") from None


def _path(given: str | None) -> str:
    if given is not None:
        return given
    if not SHIPPED_HISTORY.is_file():
        raise ReplayInputError(
            f"no PATH given and the shipped history is not at {SHIPPED_HISTORY} "
            "(it comes with a clone of the repository, in data/); pass a CSV path"
        )
    return str(SHIPPED_HISTORY)


def _options(args: argparse.Namespace) -> dict[str, Any]:
    smooth = getattr(args, "smooth_hours", None)  # None: the file format's default
    if getattr(args, "no_smooth_basis", False):
        smooth = 1
    if smooth is not None and smooth < 1:
        raise ReplayInputError(f"--smooth-hours must be at least 1, got {smooth}")
    return {
        "symbols": _symbols(args.symbols),
        "start_ms": _date("--from", args.date_from),
        "end_ms": _date("--to", args.date_to),
        "split_ms": _date("--split", getattr(args, "split", None)),
        "basis": BasisOptions(smooth, bool(getattr(args, "same_row_basis", False))),
    }


def _date(flag: str, text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return parse_time(text)
    except ValueError:
        raise ReplayInputError(
            f"{flag}: bad date {text!r} (expected e.g. 2025-03-01 or 2025-03-01T12:00Z)"
        ) from None


def _symbols(raw: list[str] | None) -> list[str] | None:
    """`sol xrp`, `SOL,XRP` and `SOLUSDT` all work; the quote defaults to USDT."""
    if not raw:
        return None
    names = [n.strip().upper() for item in raw for n in item.split(",") if n.strip()]
    return [n if n.endswith("USDT") else n + "USDT" for n in names] or None


def _check_found(history: History, symbols: list[str] | None, path: str) -> None:
    missing = sorted(set(symbols or ()) - set(history.rows))
    if missing:
        raise ReplayInputError(f"no rows for {', '.join(missing)} in {path} (in that range)")
    if not history.rows:
        raise ReplayInputError(f"no rows in {path} (in that range)")


def _basis_words(fmt: str, basis: BasisOptions) -> str:
    if fmt == FORMAT_OHLC_MARK:
        return "mark(t) vs spot(t)"
    return "same-row close vs index" if basis.same_row else "close(t-1h) vs index(t)"


def _meta(
    path: str,
    settings: Settings,
    history: History,
    basis: BasisOptions,
    result: Any,
) -> dict[str, Any]:
    a = settings.alerts
    return {
        "file": path,
        "rows": history.row_count,
        "rows_skipped_empty": history.skipped_empty,
        "symbols": sorted(history.rows),
        "format": history.format,
        "basis": _basis_words(history.format, basis),
        "basis_smoothing_hours": basis.window(history.format),
        "hours_invalid_input": result.invalid_hours,
        "cycles": result.alerts.cycles,
        "partial_cycles": result.alerts.partial_cycles,
        "alert_settings": {
            "hysteresis_points": a.hysteresis_points,
            "confirm_cycles": a.confirm_cycles,
            "default_min_band": a.default_min_band,
            "cooldown_minutes": a.cooldown_minutes,
        },
    }
