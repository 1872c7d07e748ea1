"""Who this process is among replicas sharing one database, and which parts it runs.

`pressurebot run --role all|scorer|bot|worker`: `all` (the default) runs everything in
one process; with PostgreSQL an operator can run one scorer and several bot and outbox
replicas (docs/operations.md, "Running several replicas").
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Literal, get_args

from bot.config import Settings

Role = Literal["all", "scorer", "bot", "worker"]
ROLES: tuple[Role, ...] = get_args(Role)


@dataclass(frozen=True, slots=True)
class Replica:
    name: str
    role: Role = "all"

    @property
    def runs_scorer(self) -> bool:
        return self.role in ("all", "scorer")

    @property
    def runs_bot(self) -> bool:
        """Receives updates and answers commands."""
        return self.role in ("all", "bot")

    @property
    def runs_worker(self) -> bool:
        """Drains the outbox."""
        return self.role in ("all", "worker")


def replica_name(settings: Settings) -> str:
    """`[replica] name`, else "<hostname>:<pid>": unique per process on any host."""
    if settings.replica.name:
        return settings.replica.name
    return f"{socket.gethostname()}:{os.getpid()}"
