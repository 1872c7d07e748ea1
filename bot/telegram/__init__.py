"""The Telegram side: commands, buttons, rendering, and outbox delivery.

Entry points for the service (bot/service.py): `bot.telegram.app.start_bot(settings,
sessions)` returns a `BotRuntime` with `stop()`; `bot.telegram.outbox_worker.OutboxWorker`
drains the outbox through that runtime's sender. Who receives updates (the replica
elected to poll, or every replica's webhook) is `bot.telegram.updates`.
"""
