"""The OpenAPI 3.1 description of /api/v1, served at /api/v1/openapi.json.

The row schema is built from `bot.views.market.MarketRow` itself (the fields `scan --json`
prints), so a column added there shows up here; tests/web/ validates live responses
against this document.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from bot.alerts.types import SqueezePhase
from bot.scoring.formula import Band, Bias, Regime
from bot.views.liquidation_fields import ROW_KEYS
from bot.views.market import JSON_ROW_KEYS, MarketRow
from bot.web.data import RANGES, SERIES_COLUMNS

ROW_DOCS = {
    "symbol": "Exchange symbol, e.g. BTCUSDT",
    "score": "Derivatives Pressure Score, 0-100 (docs/scoring.md)",
    "band": "Band of the score under the configured [scoring] bounds",
    "bias": "Which side is crowded",
    "regime": "What the situation looks like (first matching rule)",
    "oi_1h_pct": "Open-interest change over 1h, percent; null when unknown",
    "oi_4h_pct": "Open-interest change over 4h, percent; null when unknown",
    "oi_24h_pct": "Open-interest change over 24h, percent; null when unknown",
    "funding_pct": "Funding rate per funding interval, percent, as the exchange shows it",
    "funding_interval_hours": "Funding interval in hours (1, 4 or 8)",
    "funding_8h_pct": "Funding normalised to percent per 8 hours",
    "basis_pct": "(mark - index) / index * 100",
    "funding_pctl_90d": "Funding per 8h as a percentile 0-100 of the symbol's own trailing "
    "90 days of hourly rows (ties count half); null until 14 days are stored",
    "oi_24h_pctl_90d": "OI 24h change as a percentile 0-100 of the symbol's own 90 days",
    "basis_pctl_90d": "Basis as a percentile 0-100 of the symbol's own 90 days",
}
LIQ_DOCS = {
    "liq_1h_long_usd": "USD of long positions liquidated over the last hour, all streamed "
    "venues (for an aggregate row); null when this process runs no stream",
    "liq_1h_short_usd": "USD of short positions liquidated over the last hour",
    "liq_24h_long_usd": "USD of long positions liquidated over the last 24 hours",
    "liq_24h_short_usd": "USD of short positions liquidated over the last 24 hours",
    "liq_1h_oi_pct": "The last hour's liquidations as a percentage of open interest in USD",
    "liq_1h_x_normal": "The last hour's liquidations as a multiple of the symbol's median "
    "hour over the trailing 30 days (covered hours only); null until there is one",
    "liq_coverage_1h": "Share of the last hour (0-1) the liquidation stream was live; below 1 "
    "the figures are partial",
    "ls_account_ratio": "Accounts net long / net short (the venue's latest 5-minute "
    "figure; `all`: OI-weighted over venues); null when none is fresh (30 min)",
    "ls_top_position_ratio": "Binance's top traders: long / short positions; null elsewhere "
    "or when not fresh",
}
_LIQUIDATIONS = {
    "type": "object",
    "required": ["stream", "note"],
    "properties": {"stream": {"type": "boolean"}, "note": {"type": "string"}},
}
_POSITIONING = {
    "type": "object",
    "required": ["fetched", "note"],
    "properties": {"fetched": {"type": "boolean"}, "note": {"type": "string"}},
}
_ENUMS: dict[str, list[str]] = {
    "band": [b.value for b in Band],
    "bias": [b.value for b in Bias],
    "regime": [r.value for r in Regime],
}


def _schema_of(annotation: Any) -> dict[str, Any]:
    args = typing.get_args(annotation)
    if type(None) in args:
        inner = _schema_of(next(a for a in args if a is not type(None)))
        return {"type": [inner["type"], "null"]}
    return {"type": {int: "integer", float: "number", str: "string"}[annotation]}


def row_schema() -> dict[str, Any]:
    hints = typing.get_type_hints(MarketRow)
    names = [*JSON_ROW_KEYS, *(f.name for f in dataclasses.fields(MarketRow))]
    props: dict[str, Any] = {}
    for name in dict.fromkeys(names):
        if name == "ts_ms":
            continue
        schema = _schema_of(hints[name])
        if name in _ENUMS:
            schema["enum"] = _ENUMS[name]
        if name in ROW_DOCS:
            schema["description"] = ROW_DOCS[name]
        props[name] = schema
    for name in ROW_KEYS:
        props[name] = {"type": ["number", "null"], "description": LIQ_DOCS[name]}
    props["squeeze_phase"] = {
        "type": ["string", "null"],
        "enum": [p.value for p in SqueezePhase] + [None],
        "description": "A squeeze whose crowded side is being liquidated now (under_way), or "
        "whose cascade subsided recently (flushed); null otherwise, and always in scan --json "
        "(no stream). docs/scoring.md, Liquidations",
    }
    required = list(props)
    props["exchange"] = {
        "type": "string",
        "description": "binance, bybit, okx, or all: the cross-venue aggregate (symbol = coin)",
    }
    required.append("exchange")
    part = {"type": ["number", "null"]}
    props["partial"] = {
        "type": "boolean",
        "description": "aggregate rows only: a venue it counts failed that cycle (no alert)",
    }
    props["venues"] = {
        "type": "array",
        "description": "aggregate rows only: each venue's part (docs/scoring.md, Across venues)",
        "items": {
            "type": "object",
            "properties": {
                "venue": {"type": "string"},
                "symbols": {"type": "string"},
                "missing": {"type": "boolean"},
                **{k: part for k in ("oi_coins", "oi_usd", "share", "funding_8h_pct", "basis_pct")},
            },
        },
    }
    return {
        "type": "object",
        "required": required,
        "additionalProperties": False,
        "properties": props,
    }


def _obj(props: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "required": required if required is not None else list(props),
        "properties": props,
    }


_NUM = {"type": "number"}
_INT = {"type": "integer"}
_STR = {"type": "string"}
_CYCLE = _obj({"id": _INT, "status": {"type": "string", "enum": ["ok", "partial"]}, "failed": _INT})


def _components() -> dict[str, Any]:
    series = {
        name: {"type": "array", "items": {"type": ["number", "null"]}} for name in SERIES_COLUMNS
    }
    series["t"] = {"type": "array", "items": _INT, "description": "Unix milliseconds"}
    for side in ("long", "short"):
        series[f"liq_{side}_usd"] = {
            "type": ["array", "null"],
            "items": _NUM,
            "description": f"USD of {side} positions liquidated in each interval (ending at "
            "its point); null without a liquidation stream",
        }
    return {
        "Row": row_schema(),
        "Cycle": _CYCLE,
        "Top": _obj(
            {
                "generated_at": {**_STR, "format": "date-time"},
                "summary": _obj(
                    {
                        "symbols": _INT,
                        "avg_score": _NUM,
                        "long": _INT,
                        "short": _INT,
                        "neutral": _INT,
                    }
                ),
                "cycle": {"$ref": "#/components/schemas/Cycle"},
                "liquidations": _LIQUIDATIONS,
                "positioning": _POSITIONING,
                "rows": {"type": "array", "items": {"$ref": "#/components/schemas/Row"}},
            }
        ),
        "Latest": _obj(
            {
                "cycle_id": {"type": ["integer", "null"]},
                "generated_at": {"type": ["string", "null"]},
            }
        ),
        "Symbol": _symbol_schema(series),
        "Error": _obj({"error": _STR}),
    }


def _symbol_schema(series: dict[str, Any]) -> dict[str, Any]:
    return _obj(
        {
            "symbol": _STR,
            "exchange": _STR,
            "generated_at": {**_STR, "format": "date-time"},
            "cycle": {"oneOf": [{"$ref": "#/components/schemas/Cycle"}, {"type": "null"}]},
            "row": {"$ref": "#/components/schemas/Row"},
            "regime_label": _STR,
            "regime_why": _STR,
            "evidence": _STR,
            "lookalike": _STR,
            "unusual": _STR,
            "why": {
                "type": "array",
                "items": _obj(
                    {
                        "part": {"type": "string", "enum": ["oi", "funding", "basis"]},
                        "strength": _NUM,
                        "points": _NUM,
                        "reason": _STR,
                    }
                ),
            },
            "bands": {
                "type": "object",
                "additionalProperties": {"type": "array", "items": _INT},
            },
            "range": {"type": "string", "enum": list(RANGES)},
            "series": _obj(series),
            "liquidations": _LIQUIDATIONS,
        }
    )


def _json_response(description: str, schema: str) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{schema}"}
    return {"description": description, "content": {"application/json": {"schema": ref}}}


def _paths() -> dict[str, Any]:
    error = _json_response("Error", "Error")
    unauthorized = {"description": "The dashboard token is set and was not given"}
    symbol_param = {"name": "symbol", "in": "path", "required": True, "schema": _STR}
    range_param = {
        "name": "range",
        "in": "query",
        "schema": {"type": "string", "enum": list(RANGES), "default": "72h"},
    }
    limit_param = {"name": "limit", "in": "query", "schema": {**_INT, "minimum": 1}}
    exchange_param = {
        "name": "exchange",
        "in": "query",
        "description": "an enabled venue, or all (the cross-venue aggregate); "
        "default: the one venue, else all",
        "schema": {"type": "string", "enum": ["binance", "bybit", "okx", "all"]},
    }
    return {
        "/api/v1/latest": {
            "get": {
                "summary": "The latest scored cycle's id (what pages poll)",
                "responses": {"200": _json_response("Latest cycle", "Latest"), "401": unauthorized},
            }
        },
        "/api/v1/top": {
            "get": {
                "summary": "Every symbol of the latest cycle, highest score first (scan --json)",
                "parameters": [limit_param, exchange_param],
                "responses": {
                    "200": _json_response("Latest cycle", "Top"),
                    "400": error,
                    "401": unauthorized,
                    "404": error,
                },
            }
        },
        "/api/v1/symbol/{symbol}": {
            "get": {
                "summary": "One symbol's card and chart series",
                "parameters": [symbol_param, range_param, exchange_param],
                "responses": {
                    "200": _json_response("Symbol card", "Symbol"),
                    "400": error,
                    "401": unauthorized,
                    "404": error,
                },
            }
        },
    }


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "pressurebot dashboard API",
            "version": "1",
            "description": "Read-only. Send `Authorization: Bearer <token>` when "
            "[http] dashboard_token is set.",
        },
        "components": {
            "schemas": _components(),
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{}, {"token": []}],
        "paths": _paths(),
    }
