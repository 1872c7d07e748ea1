"""`pressurebot replay`: recorded market history through the live scoring and alert code.

- `data`: reading the recorded CSV (column mapping, time alignment, gaps);
- `run`: scoring every hour with `bot.scoring.formula`, basis smoothing, forward moves;
- `alerts`: driving `AlertEngine.in_cycle_transaction` hour by hour on a temporary database;
- `report`: the tables (bands, regimes, alert rates), as text or JSON;
- `cli`: the subcommand; `experiments`: the calibration behind docs/scoring.md.
"""
