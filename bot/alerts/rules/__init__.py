"""User rules (docs/rules.md): `oi_4h > 8 and funding_8h > 0.03 for 2 cycles on SOL`.

- `fields`: the row fields a rule may name, and how words become numbers;
- `tree`: the checked syntax tree;
- `parser`: text -> checked tree, with errors that point at the bad token (never eval);
- `compiler`: trees -> vectorised evaluation of many rules over one cycle's rows;
- `interpret`: the reference semantics, one rule on one row (tests, the naive bench peer).

Pure: no I/O.
"""
