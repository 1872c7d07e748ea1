"""The Telegram side: commands, buttons, rendering, and outbox delivery.

Entry point for the service: `bot.telegram.app.start_bot(settings, sessions)` returns a
`BotRuntime` with `notify()` and `stop()`.
"""
