"""`pressurebot run | scan | migrate | replay`. Every failure the user can cause or fix
is one line on stderr and a non-zero exit (`EXIT_CODES`, printed by `--help`); the
detail goes to the log."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import sys
import textwrap
from collections.abc import Sequence

from sqlalchemy.exc import DBAPIError

from bot.config import ConfigError, Settings, env_var_hint, load_settings, unknown_env_vars
from bot.logging_setup import configure_logging
from bot.markets.base import ExchangeError
from bot.replica import ROLES
from bot.storage.db import DatabaseError

logger = logging.getLogger("bot.cli")

EXIT_CONFIG = 2
EXIT_DATABASE = 3
EXIT_EXCHANGE = 4
EXIT_TELEGRAM = 5
EXIT_INTERRUPTED = 130
# README ("Commands") and docs/operations.md ("Exit codes") say the same.
EXIT_CODES = f"""\
exit codes:
  0    done; `run` stopped by SIGTERM or SIGINT
  {EXIT_CONFIG}    bad configuration or arguments: one line names the key, variable or file
  {EXIT_DATABASE}    database unreachable, corrupt, read-only, too old, or in use by another run
  {EXIT_EXCHANGE}    `scan` fetched nothing from the exchange (`run` keeps retrying instead)
  {EXIT_TELEGRAM}    Telegram unreachable or the token rejected at start; token revoked later
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C) before start-up finished"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pressurebot",
        description="Derivatives Pressure Score for crypto perpetuals, with Telegram alerts.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    config_help = (
        "TOML config file (default: $PRESSUREBOT_CONFIG, else ./config.toml if present); "
        "PRESSUREBOT_<SECTION>__<KEY> variables override it"
    )
    parser.add_argument("--config", metavar="PATH", help=config_help)
    # `pressurebot run --config x.toml` works too: every subcommand accepts --config, and
    # SUPPRESS keeps a subcommand without it from resetting the one given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help=config_help)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_run_scan_migrate(sub, common)
    _add_replay(sub, common)
    return parser


def _subcommand(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
    name: str,
    help_text: str,
) -> argparse.ArgumentParser:
    return sub.add_parser(
        name,
        parents=[common],
        help=help_text,
        description=textwrap.fill(help_text[0].upper() + help_text[1:] + ".", width=79),
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _add_run_scan_migrate(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    run = _subcommand(
        sub, common, "run", "migrate, then run scorer, alerts and the bot until stopped"
    )
    run.add_argument(
        "--role",
        choices=ROLES,
        default="all",
        help="which parts this replica runs: all (default), scorer (no Telegram), bot "
        "(answers updates), worker (sends the outbox); roles other than all need "
        "PostgreSQL (docs/operations.md, Running several replicas)",
    )
    scan = _subcommand(sub, common, "scan", "run one scoring cycle now and print the table")
    scan.add_argument("--json", action="store_true", help="print one JSON object instead")
    scan.add_argument("--limit", type=_positive_int, metavar="N", help="show the top N rows")
    scan.add_argument(
        "--exchange",
        choices=["binance", "bybit", "okx", "all"],
        help="which rows to show: one venue, or the cross-venue aggregate "
        "(default: the venue when one is enabled, else all)",
    )
    _subcommand(sub, common, "migrate", "apply database migrations and exit")


def _add_replay(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    """`pressurebot replay` and its options (docs/scoring.md, Evidence)."""
    replay = _subcommand(
        sub,
        common,
        "replay",
        "replay recorded market history through the scorer and the alert engine "
        "(docs/scoring.md, Evidence)",
    )
    replay.add_argument(
        "path",
        nargs="?",
        help="CSV or CSV.GZ of hourly history in either format of data/README.md "
        "(default: the file shipped in data/)",
    )
    replay.add_argument(
        "--symbols",
        nargs="*",
        metavar="SYMBOL",
        help="only these symbols: sol xrp, SOL,XRP or SOLUSDT (USDT when no quote is "
        "given; default: every symbol in the file)",
    )
    replay.add_argument(
        "--from",
        dest="date_from",
        metavar="DATE",
        help="start, inclusive: a UTC date or date-time (2025-03-01, 2025-03-01T12:00Z)",
    )
    replay.add_argument(
        "--to",
        dest="date_to",
        metavar="DATE",
        help="end, exclusive: a UTC date or date-time",
    )
    replay.add_argument(
        "--json", action="store_true", help="print the report as one JSON object instead"
    )
    replay.add_argument("--split", metavar="DATE", help="also report before/from DATE")
    _add_evaluate_options(replay)
    replay.add_argument(
        "--smooth-hours",
        type=_positive_int,
        metavar="N",
        help="hours in the basis mean (default: 1 for the ohlc-mark format, 4 for close-index)",
    )
    replay.add_argument("--no-smooth-basis", action="store_true", help="as --smooth-hours 1")
    replay.add_argument("--same-row-basis", action="store_true", help="naive close/index pairing")
    _add_store_options(replay)
    replay.add_argument(
        "--rule",
        metavar="RULE",
        help='what a rule would have done, e.g. "oi_4h > 8 and funding_8h > 0.03" (docs/rules.md)',
    )


def _add_store_options(replay: argparse.ArgumentParser) -> None:
    """replay --from-db: the deployment's own hourly store (bot/replay/from_db.py)."""
    replay.add_argument(
        "--from-db",
        action="store_true",
        help="replay this deployment's own hourly store instead of a file "
        "([scorer] hourly_retention_days; at least 14 days)",
    )
    replay.add_argument(
        "--exchange",
        choices=["binance", "bybit", "okx", "all"],
        help="with --from-db: whose rows (default: the bot's default view)",
    )


def _add_evaluate_options(replay: argparse.ArgumentParser) -> None:
    """replay --evaluate and what it writes (docs/scoring.md, Evidence)."""
    replay.add_argument(
        "--evaluate",
        action="store_true",
        help="what followed each alert type and baseline, as lifts with 90%% intervals "
        "(fit/verify split at --split, default 2025-03-01)",
    )
    replay.add_argument(
        "--markdown", action="store_true", help="with --evaluate: docs/scoring.md's tables"
    )
    replay.add_argument(
        "--table-out",
        metavar="FILE.json",
        help="with --evaluate: write the alerts' evidence table (bot/views/evidence_table.json)",
    )
    replay.add_argument(
        "--markdown-out",
        metavar="FILE.md",
        help="with --evaluate: replace the generated tables between the evidence markers",
    )
    replay.add_argument(
        "--events-out", metavar="FILE.jsonl", help="write every push of the default subscriber"
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    _keep_out_of_collections()
    args = build_parser().parse_args(argv)
    for name in unknown_env_vars(os.environ):
        # Only the name: a misspelt PRESSUREBOT_TELEGRM__TOKEN holds a secret.
        hint = env_var_hint(name)
        print(
            f"pressurebot: warning: ignoring {name}: no such settings section{hint}",
            file=sys.stderr,
        )
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        return _fail(str(exc), EXIT_CONFIG)
    token = settings.telegram.token.get_secret_value() if settings.telegram.token else ""
    configure_logging(settings.logging, secrets=[token])
    try:
        return asyncio.run(_dispatch(args, settings))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `pressurebot scan | head`: the reader left, which is not an error to terminal.
        # Point stdout at /dev/null so the interpreter's final flush stays quiet too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except DatabaseError as exc:
        return _fail(str(exc), EXIT_DATABASE)
    except ConfigError as exc:  # found only at start, e.g. a busy http.port
        return _fail(str(exc), EXIT_CONFIG)
    except DBAPIError as exc:  # a fault of the database itself after start (scan's write)
        cause = (str(exc.orig or exc).splitlines() or [repr(exc)])[0]
        return _fail(f"database error: {cause}", EXIT_DATABASE)
    except ExchangeError as exc:
        return _fail(
            _exchange_failure(settings, getattr(args, "exchange", None), exc), EXIT_EXCHANGE
        )


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    from bot import service  # keeps `--help` and config errors fast

    _keep_out_of_collections()
    if args.command == "migrate":
        async with service.open_parts(settings, role="migrate"):
            pass
        print("database is up to date")
        return 0
    if args.command == "scan":
        return await _scan(settings, as_json=args.json, limit=args.limit, exchange=args.exchange)
    if args.command == "replay" and args.rule is not None:
        from bot.replay.rule_report import run_rule_replay

        return await run_rule_replay(settings, args)
    if args.command == "replay":
        from bot.replay.cli import run_replay

        return await run_replay(settings, args)
    from bot.telegram.errors import BotStartError  # loads no PTB: fine headless too

    try:
        await service.run_service(settings, role=args.role)
    except BotStartError as exc:
        return _fail(str(exc), EXIT_TELEGRAM)
    return 0


async def _scan(
    settings: Settings, *, as_json: bool, limit: int | None, exchange: str | None = None
) -> int:
    from bot import service
    from bot.views import market, terminal

    venues = settings.exchange.venues
    if exchange is not None and exchange not in (*venues, "all"):
        return _fail(f"--exchange {exchange}: not in exchange.venues {venues}", EXIT_CONFIG)
    if exchange == "all" and len(venues) < 2:
        return _fail("--exchange all needs two or more venues in exchange.venues", EXIT_CONFIG)
    snapshot = await service.scan_once(settings, exchange)
    if snapshot is None:
        which = "" if exchange is None else f" on {exchange}"
        return _fail(f"the scan fetched no symbol{which}; see the log for why", EXIT_EXCHANGE)
    if as_json:
        print(json.dumps(market.snapshot_to_json(snapshot, limit), ensure_ascii=False))
    else:
        print(terminal.table(snapshot, limit))
    return 0


def _exchange_failure(settings: Settings, exchange: str | None, exc: ExchangeError) -> str:
    """One venue fetched: its URL and the error; several: the error is the summary
    already ("no venue answers: binance, bybit, okx (Connection refused)")."""
    ex = settings.exchange
    venues = [exchange] if exchange in ex.venues else ex.venues
    if len(venues) > 1:
        return str(exc)
    return f"exchange {ex.venue_base_url(venues[0])} unavailable: {exc}"


def _keep_out_of_collections() -> None:
    """What the imports so far built (modules, classes, SQLAlchemy's and pydantic's
    tables: several hundred thousand objects) lives as long as the process: frozen, the
    collector never scans it again. Otherwise every full collection while the next
    modules load rescans it all: a quarter of a start's CPU."""
    gc.freeze()


def _fail(message: str, code: int) -> int:
    # The cause is in the one line; the traceback only at DEBUG, for a bug terminal.
    if sys.exc_info()[0] is not None:
        logger.debug("exit %d: %s", code, message, exc_info=True)
    print(f"pressurebot: {message}", file=sys.stderr)
    return code
