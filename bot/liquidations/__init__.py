"""Liquidations from the venues' public WebSocket streams (docs/scoring.md, "Liquidations").

Pure core, no I/O: `events` (the one typed event), `frames` (each venue's frames into
events), `buckets` (one-minute buckets and stream coverage), `windows` (5m/1h/24h sums,
share of OI, multiple of normal). I/O: `stream` (one connection manager per venue over
aiohttp's WebSocket client), `venues` (each venue's connection rules) and `ingest`
(streams -> buckets -> batched, fenced writes through bot/storage/liq_repo.py).
"""
