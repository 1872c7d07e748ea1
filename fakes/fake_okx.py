"""A loopback fake of the OKX v5 public endpoints pressurebot uses (USDT swaps).

Real shapes (OKX's v5 docs and ccxt's recorded responses): `{"code": "0", "msg": "",
"data": [...]}` with every value a string, `ts` included; `quoteCcy` empty on swaps; OI
in contracts (`oi`) of `ctVal` coins, with `oiCcy` and `oiUsd` beside it; the index
keyed by the underlying (`BTC-USDT`); funding with `fundingTime` and `nextFundingTime`;
OI history as arrays `[ts, oi, oiCcy, oiUsd]`, newest first, paged back with `end`,
the latest 1,440 rows only. Each endpoint allows 20 requests per 2 s (the history and
long/short ones 5); beyond that: HTTP 429 with code 50011. Long/short positioning:
fakes/fake_positioning.py. Usage:

    async with FakeOkx(latency=0.025) as fake:
        fake.add_symbol("BTC", mark=50010, index=50000, funding_rate=0.0001, oi=80000,
                        ct_val=0.01)
        fake.fault("/api/v5/public/open-interest", "rate_limit")

`oi` is in coins; the fake serves `oi / ct_val` contracts.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aiohttp import web

from fakes import fake_positioning
from fakes.venue_fake import Fault, Number, VenueFake, fmt, priced, random_quote

INSTRUMENTS = "/api/v5/public/instruments"
OPEN_INTEREST = "/api/v5/public/open-interest"
MARK_PRICE = "/api/v5/public/mark-price"
INDEX_TICKERS = "/api/v5/market/index-tickers"
FUNDING_RATE = "/api/v5/public/funding-rate"
OI_HISTORY = "/api/v5/rubik/stat/contracts/open-interest-history"
TICKERS = "/api/v5/market/tickers"
LS_ACCOUNT_RATIO = fake_positioning.OKX_ACCOUNT_RATIO

LIMITS_PER_2S = {OI_HISTORY: 5, LS_ACCOUNT_RATIO: 5}
DEFAULT_LIMIT_PER_2S = 20
HISTORY_ROWS_KEPT = 1_440


@dataclass
class OkxSwap:
    coin: str
    settle: str
    mark: Number
    index: Number
    funding_rate: Number
    oi: Number  # coins
    ct_val: float = 1.0
    funding_interval_hours: int = 8
    list_ms: int = 1_611_916_800_000
    volume_coins: Number = 1_000_000.0  # 24h, in coins
    ct_type: str = "linear"
    state: str = "live"
    rule_type: str = "normal"
    category: str = "1"
    listed: bool = True
    history: list[tuple[int, float]] = field(default_factory=list)  # coins

    @property
    def inst_id(self) -> str:
        return f"{self.coin}-{self.settle}-SWAP"

    @property
    def uly(self) -> str:
        return f"{self.coin}-{self.settle}"


class FakeOkx(VenueFake):
    PATHS = (
        INSTRUMENTS,
        OPEN_INTEREST,
        MARK_PRICE,
        INDEX_TICKERS,
        FUNDING_RATE,
        OI_HISTORY,
        TICKERS,
        LS_ACCOUNT_RATIO,
    )
    SYMBOL_PARAM = "instId"
    WHOLE_CONTRACTS = True
    DEFAULT_MISSING: ClassVar[dict[str, tuple[str, ...]]] = {
        INSTRUMENTS: ("ctVal",),
        OPEN_INTEREST: ("oi",),
        MARK_PRICE: ("markPx",),
        INDEX_TICKERS: ("idxPx",),
        FUNDING_RATE: ("fundingRate",),
    }

    def __init__(self, *, decoys: bool = True, window_ms: int = 2_000, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # OKX's limits run over 2 s; a test on the real clock may shrink the window.
        self.window_ms = window_ms
        if decoys:
            self._add_decoys()

    # Market set-up.

    def add_symbol(
        self,
        coin: str,
        *,
        mark: Number,
        index: Number,
        funding_rate: Number,
        oi: Number,
        ct_val: float = 1.0,
        settle: str = "USDT",
        **extra: Any,
    ) -> OkxSwap:
        """Add `<coin>-<settle>-SWAP`; returns it (its `inst_id` is the symbol)."""
        entry = OkxSwap(
            coin=coin,
            settle=settle,
            mark=mark,
            index=index,
            funding_rate=funding_rate,
            oi=oi,
            ct_val=ct_val,
            **extra,
        )
        self.symbols[entry.inst_id] = entry
        return entry

    def _random_symbol(self, i: int, rng: random.Random) -> tuple[str, float, float]:
        """Swaps SYM0000-USDT-SWAP...: contract sizes vary (0.01 to 1000 coins); about
        20% are on 4h funding, 5% on 1h."""
        hours, index = random_quote(rng, (75, 20, 5))
        ct_val = rng.choice((0.01, 0.1, 1.0, 10.0, 1000.0))
        contracts = round(math.exp(rng.uniform(math.log(1e4), math.log(1e8))))
        oi = contracts * ct_val
        entry = self.add_symbol(f"SYM{i:04d}", oi=oi, ct_val=ct_val, **priced(rng, index, hours))
        return entry.inst_id, contracts, ct_val

    # Limits and errors.

    def _limited(self, path: str, params: dict[str, str]) -> web.Response | None:
        limit = LIMITS_PER_2S.get(path, DEFAULT_LIMIT_PER_2S)
        if self.take_slot(path, limit, self.window_ms):
            return None
        return self._json(429, self._error("50011", "Too Many Requests"))

    def _error_answer(self, path: str, fault: Fault) -> web.Response:
        if fault.kind == "5xx":
            return self._json(fault.status, self._error("50001", "Service temporarily unavailable"))
        if fault.kind in ("rate_limit", "ban"):
            # OKX answers 429; "ban" sends the same code inside an HTTP 200.
            status = 429 if fault.kind == "rate_limit" else 200
            return self._json(status, self._error("50011", "Too Many Requests"))
        if fault.kind == "geo":
            body = self._error("51155", "Your region is restricted from using this service")
            return self._json(fault.status, body)
        if fault.kind == "error_code":
            return self._json(200, self._error("50026", "System error. Try again later."))
        return self._json(200, {"code": "0", "msg": "", "data": []})  # "empty"

    @staticmethod
    def _error(code: str, msg: str) -> dict[str, Any]:
        return {"code": code, "msg": msg, "data": []}

    # Answers.

    def _answer(self, path: str, params: dict[str, str], row_faults: list[Fault]) -> Any:
        gone = {f.symbol for f in row_faults if f.kind == "delisted"}
        inst = params.get("instId")
        if path == OI_HISTORY:
            entry = self.symbols.get(inst or "")
            if entry is None or not entry.listed or inst in gone or None in gone:
                return 200, self._error("51001", "Instrument ID does not exist")
            return 200, self._history(entry, params)
        if path == LS_ACCOUNT_RATIO:
            entry = self.symbols.get(inst or "")
            if entry is None or not entry.listed or inst in gone or None in gone:
                return 200, self._error("51001", "Instrument ID does not exist")
            rows = fake_positioning.okx(self.ls_of(entry.inst_id), params, self.stamp())
            return 200, {"code": "0", "msg": "", "data": rows}
        if (
            path in (INSTRUMENTS, OPEN_INTEREST, MARK_PRICE, TICKERS)
            and params.get("instType") != "SWAP"
        ):
            return 200, self._error("51000", "Parameter instType error")
        swaps = [s for s in self.symbols.values() if s.listed and s.inst_id not in gone]
        if path == FUNDING_RATE and inst != "ANY":
            swaps = [s for s in swaps if s.inst_id == inst]
        if path == INDEX_TICKERS:
            quote = params.get("quoteCcy")
            rows = [self._index_row(s) for s in swaps if s.settle == quote]
        else:
            build = {
                INSTRUMENTS: self._instrument_row,
                OPEN_INTEREST: self._oi_row,
                MARK_PRICE: self._mark_row,
                FUNDING_RATE: self._funding_row,
                TICKERS: self._ticker_row,
            }[path]
            rows = [build(s) for s in swaps]
        self.drop_fields(rows, row_faults, "instId")
        return 200, {"code": "0", "msg": "", "data": rows}

    @staticmethod
    def _instrument_row(s: OkxSwap) -> dict[str, Any]:
        return {
            "instType": "SWAP",
            "instId": s.inst_id,
            "uly": s.uly,
            "instFamily": s.uly,
            "instCategory": s.category,
            "baseCcy": "",
            "quoteCcy": "",  # empty for swaps
            "settleCcy": s.settle,
            "ctVal": fmt(s.ct_val).rstrip("0").rstrip("."),
            "ctMult": "1",
            "ctValCcy": s.coin,
            "ctType": s.ct_type,
            "listTime": str(s.list_ms),
            "expTime": "",
            "lever": "100",
            "tickSz": "0.1",
            "lotSz": "0.01",
            "minSz": "0.01",
            "state": s.state,
            "ruleType": s.rule_type,
            "alias": "",
        }

    def _oi_row(self, s: OkxSwap) -> dict[str, Any]:
        if isinstance(s.oi, str):
            oi, oi_ccy, oi_usd = s.oi, s.oi, ""
        else:
            mark = float(s.mark) if not isinstance(s.mark, str) else 0.0
            oi, oi_ccy, oi_usd = fmt(s.oi / s.ct_val), fmt(s.oi), fmt(s.oi * mark)
        return {
            "instType": "SWAP",
            "instId": s.inst_id,
            "oi": oi,
            "oiCcy": oi_ccy,
            "oiUsd": oi_usd,
            "ts": str(self.stamp()),
        }

    def _mark_row(self, s: OkxSwap) -> dict[str, Any]:
        return {
            "instType": "SWAP",
            "instId": s.inst_id,
            "markPx": fmt(s.mark),
            "ts": str(self.stamp()),
        }

    def _ticker_row(self, s: OkxSwap) -> dict[str, Any]:
        coins = s.volume_coins
        return {
            "instType": "SWAP",
            "instId": s.inst_id,
            "last": fmt(s.mark),
            "lastSz": "1",
            "askPx": fmt(s.mark),
            "bidPx": fmt(s.mark),
            "open24h": fmt(s.mark),
            "high24h": fmt(s.mark),
            "low24h": fmt(s.mark),
            "vol24h": fmt(float(coins) / s.ct_val) if not isinstance(coins, str) else coins,
            "volCcy24h": fmt(coins),
            "sodUtc0": fmt(s.mark),
            "sodUtc8": fmt(s.mark),
            "ts": str(self.stamp()),
        }

    def _index_row(self, s: OkxSwap) -> dict[str, Any]:
        return {
            "instId": s.uly,
            "idxPx": fmt(s.index),
            "high24h": fmt(s.index),
            "low24h": fmt(s.index),
            "open24h": fmt(s.index),
            "sodUtc0": fmt(s.index),
            "sodUtc8": fmt(s.index),
            "ts": str(self.stamp()),
        }

    def _funding_row(self, s: OkxSwap) -> dict[str, Any]:
        interval_ms = s.funding_interval_hours * 3_600_000
        settle_at = (self.stamp() // interval_ms + 1) * interval_ms
        return {
            "instType": "SWAP",
            "instId": s.inst_id,
            "method": "current_period",
            "formulaType": "noRate",
            "fundingRate": fmt(s.funding_rate),
            "nextFundingRate": "",
            "fundingTime": str(settle_at),
            "nextFundingTime": str(settle_at + interval_ms),
            "settFundingRate": fmt(s.funding_rate),
            "settState": "settled",
            "premium": "0.0001",
            "interestRate": "0.0001",
            "minFundingRate": "-0.0075",
            "maxFundingRate": "0.0075",
            "impactValue": "20000",
            "ts": str(self.stamp()),
        }

    def _history(self, s: OkxSwap, params: dict[str, str]) -> Any:
        if params.get("period") != "5m":
            return self._error("51000", "Parameter period error")
        limit = int(params.get("limit", 100))
        if not 1 <= limit <= 100:
            return self._error("51000", "Parameter limit error")
        begin = int(params.get("begin", 0))
        end = int(params.get("end", self.now_ms()))
        kept = s.history[-HISTORY_ROWS_KEPT:]
        mark = float(s.mark) if not isinstance(s.mark, str) else 1.0
        rows = [
            [str(t), fmt(coins / s.ct_val), fmt(coins), fmt(coins * mark)]
            for t, coins in reversed(kept)
            if begin <= t <= end
        ][:limit]
        return {"code": "0", "msg": "", "data": rows}

    def _add_decoys(self) -> None:
        """Swaps the universe filter must drop."""
        common: dict[str, Any] = {"mark": 50_500.0, "index": 50_000.0, "funding_rate": 0.0}
        self.add_symbol("BTC", settle="USD", ct_type="inverse", oi=100.0, **common)
        self.add_symbol("BTC", settle="USDC", oi=100.0, ct_val=0.0001, **common)
        self.add_symbol("OLD", state="suspend", oi=10.0, **common)
        self.add_symbol("NEW", state="preopen", oi=0.0, **common)
        self.add_symbol("PRE", rule_type="pre_market", oi=10.0, **common)
        self.add_symbol("XAU", category="4", oi=10.0, **common)
