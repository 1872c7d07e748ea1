"""Who this process is among replicas sharing one database, and which parts it runs.

`pressurebot run --role all|scorer|bot|worker`: `all` (the default) runs everything in
one process; with PostgreSQL an operator can run one scorer and several bot and outbox
replicas (docs/operations.md, "Running several replicas").
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from typing import Literal, get_args

from sqlalchemy.engine import make_url

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


def news_level(settings: Settings) -> int:
    """The log level of replica news (who this process is, which lease it took).

    Replicas share only a PostgreSQL database; on SQLite there is one process, which
    always holds every lease, and the words "replica" and "lease" would only puzzle a
    single-process user: DEBUG there, INFO on PostgreSQL."""
    backend = make_url(settings.database.url).get_backend_name()
    return logging.DEBUG if backend == "sqlite" else logging.INFO
