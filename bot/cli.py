"""`pressurebot run | scan | migrate`. Every failure the user can cause or fix is one
line on stderr and a non-zero exit; the detail goes to the log."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Sequence

from sqlalchemy.exc import DBAPIError

from bot.config import ConfigError, Settings, load_settings, unknown_env_vars
from bot.logging_setup import configure_logging
from bot.markets.base import ExchangeError
from bot.replica import ROLES
from bot.storage.db import DatabaseError

logger = logging.getLogger("bot.cli")

EXIT_CONFIG = 2
EXIT_DATABASE = 3
EXIT_EXCHANGE = 4
EXIT_TELEGRAM = 5


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pressurebot",
        description="Derivatives Pressure Score for crypto perpetuals, with Telegram alerts.",
    )
    config_help = "TOML config file (default: ./config.toml)"
    parser.add_argument("--config", metavar="PATH", help=config_help)
    # `pressurebot run --config x.toml` works too: every subcommand accepts --config, and
    # SUPPRESS keeps a subcommand without it from resetting the one given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help=config_help)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser(
        "run",
        parents=[common],
        help="migrate, then run scorer, alerts and the bot until stopped",
    )
    run.add_argument(
        "--role",
        choices=ROLES,
        default="all",
        help="which parts this replica runs: all (default), scorer (no Telegram), bot "
        "(answers updates), worker (sends the outbox); roles other than all need "
        "PostgreSQL (docs/operations.md, Running several replicas)",
    )
    scan = sub.add_parser(
        "scan", parents=[common], help="run one scoring cycle now and print the table"
    )
    scan.add_argument("--json", action="store_true", help="print one JSON object instead")
    scan.add_argument("--limit", type=_positive_int, metavar="N", help="show the top N rows")
    scan.add_argument(
        "--exchange",
        choices=["binance", "bybit", "okx", "all"],
        help="which rows to show: one venue, or the cross-venue aggregate "
        "(default: the venue when one is enabled, else all)",
    )
    sub.add_parser("migrate", parents=[common], help="apply database migrations and exit")
    replay = sub.add_parser(
        "replay", parents=[common], help="replay recorded market history (see docs)"
    )
    replay.add_argument(
        "path", nargs="?", help="CSV or CSV.GZ of hourly history (default: data/ in the repo)"
    )
    replay.add_argument("--symbols", nargs="*")
    replay.add_argument("--from", dest="date_from")
    replay.add_argument("--to", dest="date_to")
    replay.add_argument("--json", action="store_true")
    replay.add_argument("--split", metavar="DATE", help="also report before/from DATE")
    replay.add_argument("--smooth-hours", type=_positive_int, metavar="N", help="basis mean (4)")
    replay.add_argument("--no-smooth-basis", action="store_true", help="as --smooth-hours 1")
    replay.add_argument("--same-row-basis", action="store_true", help="naive close/index pairing")
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for name in unknown_env_vars(os.environ):
        # Only the name: a misspelt PRESSUREBOT_TELEGRM__TOKEN holds a secret.
        print(f"pressurebot: warning: ignoring {name}: no such settings section", file=sys.stderr)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        return _fail(str(exc), EXIT_CONFIG)
    token = settings.telegram.token.get_secret_value() if settings.telegram.token else ""
    configure_logging(settings.logging, secrets=[token])
    try:
        return asyncio.run(_dispatch(args, settings))
    except KeyboardInterrupt:
        return 130
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
        ex = settings.exchange
        where = ex.base_url if len(ex.venues) == 1 else "(every venue)"
        return _fail(f"exchange {where} unavailable: {exc}", EXIT_EXCHANGE)


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    from bot import service  # keeps `--help` and config errors fast

    if args.command == "migrate":
        async with service.open_parts(settings, role="migrate"):
            pass
        print("database is up to date")
        return 0
    if args.command == "scan":
        return await _scan(settings, as_json=args.json, limit=args.limit, exchange=args.exchange)
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


def _fail(message: str, code: int) -> int:
    # The cause is in the one line; the traceback only at DEBUG, for a bug terminal.
    if sys.exc_info()[0] is not None:
        logger.debug("exit %d: %s", code, message, exc_info=True)
    print(f"pressurebot: {message}", file=sys.stderr)
    return code
