"""Destinations beside Telegram chats: Discord webhooks and signed HTTPS webhooks.

They ride the same outbox as Telegram sends (docs/alerts.md, "Destinations"): a chat's
pending rows get twins with `deliveries.destination_id` set, claimed, retried and
expired like the chat's own; the outbox worker hands a claimed destination group to
`bot.telegram.destination_sends`, which posts it through a sink here:

- `safe_http`: the only way out to a user's URL: https only, public addresses only,
  checked on the resolved address at connect time, timeouts, size cap, no redirects;
- `secret_box`: URLs and signing secrets encrypted at rest (Fernet);
- `payload`: the versioned JSON schema of the generic webhook;
- `discord`: Discord's embeds and rate limits; `https_hook`: signed JSON posts;
- `sinks`: one POST per claimed group, its outcome classified for the outbox.
"""
