"""Plain-text rendering of a market snapshot for the terminal (`pressurebot scan`)."""

from __future__ import annotations

from bot.views.market import MarketRow, MarketSnapshot

COLUMNS = (
    ("#", 3),
    ("Symbol", 14),
    ("Score", 5),
    ("Band", 9),
    ("Bias", 7),
    ("Regime", 23),
    ("OI 1h", 8),
    ("OI 4h", 8),
    ("OI 24h", 8),
    ("Funding", 8),
    ("Int", 3),
    ("Fund/8h", 8),
    ("Basis", 7),
)


def pct(value: float | None, digits: int = 2) -> str:
    """Signed percent; an unknown value is a dash, never 0."""
    return "—" if value is None else f"{value:+.{digits}f}%"


def summary_line(snapshot: MarketSnapshot) -> str:
    s = snapshot.summary
    return (
        f"Avg stress {s.avg_score:.0f} · Long bias {s.long} · "
        f"Short bias {s.short} · Neutral {s.neutral}"
    )


def _cells(rank: int, r: MarketRow) -> list[str]:
    return [
        str(rank),
        r.symbol,
        str(r.score),
        r.band,
        r.bias,
        r.regime,
        pct(r.oi_1h_pct),
        pct(r.oi_4h_pct, 1),
        pct(r.oi_24h_pct, 1),
        pct(r.funding_pct, 3),
        f"{r.funding_interval_hours}h",
        pct(r.funding_8h_pct, 3),
        pct(r.basis_pct),
    ]


def table(snapshot: MarketSnapshot, limit: int | None = None) -> str:
    rows = snapshot.rows if limit is None else snapshot.rows[:limit]
    header = [name for name, _ in COLUMNS]
    body = [_cells(i, r) for i, r in enumerate(rows, 1)]
    widths = [
        max(w, *(len(line[c]) for line in body)) if body else w for c, (_, w) in enumerate(COLUMNS)
    ]
    left = {1, 3, 4, 5}

    def fmt(cells: list[str]) -> str:
        return "  ".join(
            cell.ljust(widths[i]) if i in left else cell.rjust(widths[i])
            for i, cell in enumerate(cells)
        ).rstrip()

    lines = [summary_line(snapshot)]
    if snapshot.symbols_failed:
        lines.append(f"(partial cycle: {snapshot.symbols_failed} symbols could not be fetched)")
    missing = sorted({p.venue for ps in snapshot.venues.values() for p in ps if p.missing})
    if missing:
        lines.append(f"(partial: {', '.join(missing)} did not answer; no alert from those rows)")
    lines += ["", fmt(header), *(fmt(c) for c in body)]
    return "\n".join(lines)
