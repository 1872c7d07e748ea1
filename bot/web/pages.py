"""The HTML pages and their assets, all served from the package (no CDN, works offline).

The pages are shells: Jinja2 renders the parts that depend only on the configuration
(the band ranges of `[scoring]`, the regimes), autoescaped; the market data arrives by
fetch() from /api/v1 and is written with textContent by bot/web/static/*.js.
"""

from __future__ import annotations

import mimetypes
from importlib import resources

from aiohttp import web
from jinja2 import Environment, PackageLoader, select_autoescape

from bot.config import Settings
from bot.scoring.explain import BAND_MEANING, REGIME_WHY
from bot.scoring.formula import band_ranges

ASSET_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


def environment() -> Environment:
    return Environment(
        loader=PackageLoader("bot.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )


def legend(settings: Settings) -> dict[str, object]:
    """What "How to read it" shows: bands with the configured ranges, and the regimes."""
    bands = [
        {"name": str(band), "lo": lo, "hi": hi, "meaning": BAND_MEANING[str(band)]}
        for band, (lo, hi) in band_ranges(settings.scoring).items()
    ]
    regimes = [{"name": name, "meaning": why} for name, why in REGIME_WHY.items()]
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
    def __init__(self, settings: Settings) -> None:
        self.env = environment()
        self.settings = settings
        self.legend = legend(settings)
        # The dashboard shell depends on the configuration only: rendered once.
        self.index_html = self.env.get_template("index.html").render(root="./", **self.legend)
        self.assets = _load_assets()

    async def index(self, request: web.Request) -> web.Response:
        return _html(self.index_html)

    async def symbol(self, request: web.Request) -> web.Response:
        typed = request.match_info["symbol"][:40]
        page = self.env.get_template("symbol.html").render(root="../", symbol=typed, **self.legend)
        return _html(page)

    async def asset(self, request: web.Request) -> web.Response:
        found = self.assets.get(request.match_info["name"])
        if found is None:
            return web.Response(status=404, text="not found")
        body, content_type = found
        return web.Response(
            body=body,
            content_type=content_type,
            charset="utf-8",
            headers={"Cache-Control": "no-cache"},
        )


def _html(text: str) -> web.Response:
    return web.Response(
        text=text, content_type="text/html", charset="utf-8", headers={"Cache-Control": "no-store"}
    )


def _load_assets() -> dict[str, tuple[bytes, str]]:
    """Every file of bot/web/static, read once: a handful of small files."""
    out: dict[str, tuple[bytes, str]] = {}
    for item in resources.files("bot.web").joinpath("static").iterdir():
        if item.is_file():
            suffix = "." + item.name.rsplit(".", 1)[-1]
            ctype = ASSET_TYPES.get(suffix) or mimetypes.guess_type(item.name)[0] or "text/plain"
            out[item.name] = (item.read_bytes(), ctype)
    return out
