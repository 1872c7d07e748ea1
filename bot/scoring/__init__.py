"""The score and its inputs (docs/scoring.md). Pure: no clock, network or database.

- `formula`: inputs -> score, band, bias and regime (`compute_score`);
- `windows`: which stored OI sample anchors each 1h/4h/24h window;
- `aggregate`, `aggregate_score`: one coin across venues, and that aggregate scored;
- `explain`: the one-line reasons and regime meanings every screen shows;
- `result`: what one cycle produced (`SymbolScore`, `CycleResult`).
"""
