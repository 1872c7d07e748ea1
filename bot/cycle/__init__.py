"""One scoring cycle, with its I/O: fetch from the venues, score, write, and run the alert
hook in the same transaction.

- `fetch`: market data, OI and the OI history backfill for one venue;
- `run`: `Scorer`, one venue's cycle and its write;
- `venues`: every enabled venue's cycle, then the cross-venue aggregate;
- `alert_hook`: `AlertEngine`, the alert transitions and fan-out inside the cycle's write;
- `loop`: the cadence (`run_scorer`); `election`: which replica scores (a lease).
"""
