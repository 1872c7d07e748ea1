"""The HTML pages and their assets, all served from the package (no CDN, works offline).

The pages are shells: Jinja2 renders the parts that depend only on the configuration
(the band ranges of `[scoring]`, the regimes), autoescaped; the market data arrives by
fetch() from /api/v1 and is written with textContent by bot/web/static/*.js.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
import time
from importlib import resources
from importlib.abc import Traversable

from aiohttp import web
from jinja2 import Environment, PackageLoader, select_autoescape

from bot.alerts.rules.backtest import Backtest
from bot.config import Settings
from bot.scoring.explain import BAND_MEANING, REGIME_WHY, regime_label
from bot.scoring.formula import band_ranges
from bot.views.builtin_rules import BuiltinEvidence
from bot.views.builtin_rules import views as builtin_views
from bot.web.data import DashboardData
from bot.web.responses import Body, body_of, send

ASSET_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
# A 404 page repeats at most this much of what was typed in the address.
MAX_SHOWN = 60
# Bidirectional controls (embeddings, overrides, isolates, marks): in a name they
# reorder what follows, so "ABC\u202eTDSU" reads "ABCUSDT". Shown as U+FFFD instead;
# bot/web/static/common.js (PB.shown) does the same for names the pages get by fetch().
BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def shown(name: str) -> str:
    """A name as the page displays it: bidi controls neutralised (the link keeps it)."""
    return BIDI_CONTROLS.sub("\ufffd", name)


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("bot.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    env.filters["shown"] = shown
    return env


def legend(settings: Settings) -> dict[str, object]:
    """What "How to read it" shows: bands with the configured ranges, and the regimes."""
    bands = [
        {"name": str(band), "lo": lo, "hi": hi, "meaning": BAND_MEANING[str(band)]}
        for band, (lo, hi) in band_ranges(settings.scoring).items()
    ]
    # `name` is the stored identifier the API's rows carry (the filter's value); `label`
    # is what the page shows (bot/scoring/explain.py REGIME_LABEL).
    regimes = [
        {"name": name, "label": regime_label(name), "meaning": why}
        for name, why in REGIME_WHY.items()
    ]
    ex = settings.exchange
    # The header: "binance perpetuals", or the venues the aggregate spans.
    shown = f"{' + '.join(ex.venues)} (aggregated)" if ex.default_view == "all" else ex.venues[0]
    return {
        "bands": bands,
        "regimes": regimes,
        "exchange": ex.default_view,
        "exchange_label": shown,
        # The venue selector: the aggregate first, then each venue (several venues only).
        "views": ["all", *ex.venues] if len(ex.venues) > 1 else [],
    }


class Pages:
    def __init__(
        self, settings: Settings, data: DashboardData, evidence: BuiltinEvidence | None = None
    ) -> None:
        self.env = environment()
        self.settings = settings
        self.data = data
        self.evidence = evidence  # the built-in rules' backtests, measured on first view
        self.legend = legend(settings)
        # The dashboard shell depends on the configuration only: rendered once.
        self.index_html = self.env.get_template("index.html").render(root="./", **self.legend)
        self.assets = _load_assets()

    async def index(self, request: web.Request) -> web.Response:
        return _html(self.index_html)

    async def symbol(self, request: web.Request) -> web.Response:
        """The symbol's page, under the name it is stored as (`btc` opens BTCUSDT); a
        404 page when nothing was ever scored under it on the asked venue."""
        typed = request.match_info["symbol"]
        exchange = self.data.view(request.query.get("exchange"))
        if exchange is None:
            asked = request.query["exchange"][:MAX_SHOWN]
            why = f"There is no venue {asked!r} here: {self.data.views_text()}."
            return self._missing(400, typed, why)
        name = await self.data.resolve(typed, exchange)
        if name is None:
            return self._missing(404, typed, "No score is stored for it: check the spelling.")
        page = self.env.get_template("symbol.html").render(root="../", symbol=name, **self.legend)
        return _html(page)

    async def rules(self, request: web.Request) -> web.Response:
        """The built-in rules with their measured evidence; read-only. The measuring
        starts at the first view and is never waited for."""
        measured = self.evidence.peek() if self.evidence is not None else None
        rules = [
            {
                **{f: getattr(v, f) for f in ("name", "says", "condition", "missing")},
                "evidence": v.evidence,
                "no_data": v.no_data,
                "period": _period(v.evidence),
            }
            for v in builtin_views(measured)
        ]
        measuring = measured is None and self.evidence is not None
        page = self.env.get_template("rules.html").render(
            root="./", rules=rules, measuring=measuring, **self.legend
        )
        return _html(page)

    def _missing(self, status: int, typed: str, why: str) -> web.Response:
        page = self.env.get_template("missing.html").render(
            root="../", symbol=typed[:MAX_SHOWN], why=why, **self.legend
        )
        return _html(page, status)

    async def asset(self, request: web.Request) -> web.Response:
        found = self.assets.get(request.match_info["name"])
        if found is None:
            return web.Response(status=404, text="404: Not Found")
        body, content_type = found
        return send(request, body, content_type, charset="utf-8")


def _period(bt: Backtest | None) -> str:
    """ "2021-05-13 to 2026-03-06" for a backtest's hours; "" without one."""
    if bt is None or bt.first_ms is None or bt.last_ms is None:
        return ""
    first, last = (
        time.strftime("%Y-%m-%d", time.gmtime(t / 1000)) for t in (bt.first_ms, bt.last_ms)
    )
    return f"{first} to {last}"


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(
        status=status,
        text=text,
        content_type="text/html",
        charset="utf-8",
        headers={"Cache-Control": "no-store"},
    )


def _load_assets() -> dict[str, tuple[Body, str]]:
    """Every file under bot/web/static (vendor/ included), read and gzipped once, by
    its path there: a handful of small files. A dict, so no path outside it is served."""
    out: dict[str, tuple[Body, str]] = {}

    def walk(folder: Traversable, prefix: str) -> None:
        for item in folder.iterdir():
            if item.is_dir():
                walk(item, f"{prefix}{item.name}/")
            elif item.is_file():
                suffix = "." + item.name.rsplit(".", 1)[-1]
                ctype = ASSET_TYPES.get(suffix) or mimetypes.guess_type(item.name)[0]
                raw = item.read_bytes()
                tag = hashlib.sha256(raw).hexdigest()[:20]
                out[prefix + item.name] = (body_of(raw, tag), ctype or "text/plain")

    walk(resources.files("bot.web").joinpath("static"), "")
    return out
