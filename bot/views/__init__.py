"""Use-cases and read models, with no transport: Telegram, the web page and the CLI all
call these and word what they return (bot/telegram/render/, bot/web/, `terminal`).

- `market`: the latest stored market (`MarketSnapshot`, rows, JSON shape);
- `actions`: what a chat can do (subscribe, settings, ...), returning dataclasses;
- `terminal`: the `pressurebot scan` table.
"""
