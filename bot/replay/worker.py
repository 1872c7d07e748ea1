"""Entry point of a replay worker process: `python -m bot.replay.worker JOB RESULT`
(pickled files). Started by `bot.replay.alerts`; not meant to be run by hand."""

from __future__ import annotations

import sys

from bot.replay.alerts import child_main

if __name__ == "__main__":
    child_main(sys.argv[1], sys.argv[2])
