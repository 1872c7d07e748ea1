"""/status, for the bot's operators: the last cycle, deliveries, chats."""

from __future__ import annotations

from typing import Any

from bot.alerts.types import DeliveryStatus
from bot.cycle.freshness import is_stale_errors
from bot.telegram.render.format import esc, row_age

# Suppressed rows are counted apart: they were never meant to be sent.
STATUS_SHOWN = (
    DeliveryStatus.PENDING,
    DeliveryStatus.SENT,
    DeliveryStatus.FAILED,
    DeliveryStatus.DROPPED,
)


def status_text(info: Any, now_ms: int) -> str:
    cycle = info.cycle
    lines = ["<b>Status</b>"]
    if cycle is None:
        lines.append("No cycle has run yet.")
    else:
        lines += [
            f"Last cycle <b>#{cycle.id}</b> ({esc(cycle.status)}) · "
            f"{row_age(cycle.finished_ms, now_ms)} ago · took "
            f"{(cycle.finished_ms - cycle.started_ms) / 1000:.1f} s",
            f"Symbols {cycle.symbols_fetched}/{cycle.symbols_attempted} fetched, "
            f"{cycle.symbols_failed} failed · weight {cycle.weight_used} · "
            f"alerts {cycle.events_created}",
        ]
        if cycle.errors:
            first = str(cycle.errors).splitlines()[0][:200]
            lines.append(f"Errors: <code>{esc(first)}</code>")
        if cycle.exchange != "all" and is_stale_errors(cycle.errors):
            lines.append(_stale_line(cycle.exchange))
    d = info.deliveries
    lines += [
        "Deliveries: "
        + " · ".join(f"{k} {d.get(k, 0)}" for k in STATUS_SHOWN)
        + f" · suppressed {d.get(DeliveryStatus.SUPPRESSED, 0)}",
        f"Chats: {info.chats_active} active / {info.chats_total} · "
        f"subscriptions {info.subscriptions}",
    ]
    lines += _venues(info, now_ms)
    lines += _replicas(info)
    lines += _liquidations(getattr(info, "liquidations", None))
    lines += _positioning(getattr(info, "positioning", None))
    return "\n".join(lines)


def _positioning(status: Any) -> list[str]:
    """How many symbols per venue have a fresh long/short ratio (bot/views/positioning.py)."""
    if status is None or not status.fresh:
        return []
    each = ", ".join(f"{esc(v)} {n}/{total}" for v, (n, total) in status.fresh.items())
    return [f"Positioning: fresh long/short ratios {each} (30 min)"]


def _liquidations(status: Any) -> list[str]:
    """Who holds the liquidation streams and how live each was (last 15 minutes)."""
    if status is None:
        return ["Liquidations: off ([liquidations] enabled = false)"]
    lease = status.lease
    if lease is None or not lease.live:
        holder = "nobody holds the streams"
    else:
        holder = f"streams held by <b>{esc(lease.holder)}</b>"
    live = ", ".join(f"{esc(v)} {share:.0%}" for v, share in status.coverage.items())
    return [f"Liquidations: {holder} · live {live} (last 15 min)"]


def _venues(info: Any, now_ms: int) -> list[str]:
    """With several venues: those whose last cycle failed (unreachable, refusing us),
    each with its first error; aggregates go on without them (docs/scoring.md)."""
    lines = []
    for venue, cycle in getattr(info, "venues", ()):
        if cycle is not None and is_stale_errors(cycle.errors):
            lines.append(_stale_line(venue))
        if cycle is None or cycle.status != "failed":
            continue
        first = str(cycle.errors or "").splitlines()[0][:160] if cycle.errors else ""
        lines.append(
            f"⚠️ Venue <b>{esc(venue)}</b> unreachable ({row_age(cycle.finished_ms, now_ms)} ago)"
            + (f": <code>{esc(first)}</code>" if first else "")
        )
    return lines


def _stale_line(venue: str) -> str:
    return (
        f"⚠️ Venue <b>{esc(venue)}</b> serves stale open interest (its exchange time "
        "stopped): those symbols are not scored, no alerts from them"
    )


def _replicas(info: Any) -> list[str]:
    """Which replica answered, and who scores (docs/operations.md, several replicas)."""
    lines = []
    replica = getattr(info, "replica", None)
    if replica is not None:
        lines.append(f"Replica <b>{esc(replica.name)}</b> · role {esc(replica.role)}")
    lease = getattr(info, "lease", None)
    if lease is None:
        lines.append("Scorer: nobody has held the scorer lease yet")
    elif lease.live:
        lines.append(
            f"Scorer: <b>{esc(lease.holder)}</b> · lease expires in "
            f"{lease.expires_in_seconds:.0f} s"
        )
    else:
        lines.append(f"Scorer: nobody (lease expired; last held by {esc(lease.holder)})")
    return lines
