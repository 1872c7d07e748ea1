"""A loopback fake of the Telegram Bot API, strict where Telegram is strict.

Serves `/bot{token}/{method}` on 127.0.0.1:0. PTB posts form fields (strings raw,
everything else JSON-encoded) or multipart (files); both are accepted. Implements
getMe, getUpdates (a real long poll), setWebhook, deleteWebhook, getWebhookInfo,
sendMessage, sendPhoto, editMessageText, editMessageReplyMarkup, answerCallbackQuery,
setMyCommands, getMyCommands and deleteMyCommands (per scope: `menus`), getChatMember
and sendChatAction.

Like Telegram it:
- lets one bot instance poll: a second getUpdates while one is waiting ends the earlier
  one with 409 "Conflict: terminated by other getUpdates request" (counted in
  `conflicts` when the two come from different tags, i.e. different bot instances: a
  process that abandons its own long poll and polls again, as PTB's `Updater.stop()`
  does, ends it with a 409 that reaches nobody), and getUpdates while a webhook is set
  answers 409 too;
- enforces flood limits: 30 messages/s overall, 1/s per private chat with a burst of
  3, 20/min per group, answering 429 with `parameters.retry_after` (counted in
  `flood_429s`); a message sent with `allow_paid_broadcast` (Bot API 7.11) counts
  against its own global limit instead (`paid_per_second`, 1000/s), per-chat limits
  unchanged (paid ones counted in `paid_messages`, `SentMessage.paid`);
- rejects bad HTML ("can't parse entities"), texts over 4096 and captions over 1024
  characters (after entity parsing), callback data over 64 bytes, and edits that
  change nothing;
- injects faults per chat and method for the next N calls: 403 blocked, 400 chat not
  found, 429, migrate (`parameters.migrate_to_chat_id`), 5xx, 401, and a message's form
  refused in Telegram's words ("parse": can't parse entities, "too_long");
- answers 401 Unauthorized to every method once the token is revoked (`revoke_token()`);
- goes down for a while (`outage`): every call, polling included, answers 502 Bad
  Gateway with nginx's HTML page, as Telegram's front end does when the Bot API is down;
- answers after `latency` seconds (a far-away Bot API round trip).

With `deliver_webhook_to(url)` it posts updates to a webhook as Telegram does (the
registered secret in the header, in order, kept until a 2xx answer, failures reported in
getWebhookInfo). Several replicas of the bot can share one fake: give each its own
`base_url_for("r1")` and the fake records who called what (`calls_by`, `pollers`).

    async with FakeTelegram() as tg:
        settings.telegram.base_url = tg.base_url; token = tg.token
        tg.push_message(42, "/top")
        [reply] = await tg.wait_for_messages(42, 1)
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import html
import itertools
import json
import math
import re
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

TOKEN = "123456:TEST-token_for-the-fake"
SCOPES_WITHOUT_CHAT = frozenset(
    {"default", "all_private_chats", "all_group_chats", "all_chat_administrators"}
)
SEND_METHODS = frozenset({"sendmessage", "sendphoto"})
FLOOD_METHODS = SEND_METHODS | {"editmessagetext", "editmessagereplymarkup"}
JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "reply_parameters",
        "link_preview_options",
        "commands",
        "allowed_updates",
        "entities",
        "caption_entities",
        "scope",
    }
)
INT_FIELDS = frozenset({"chat_id", "message_id", "user_id", "offset", "limit"})
ALLOWED_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "code",
        "pre",
        "blockquote",
        "tg-emoji",
    }
)
_TOKEN_RE = re.compile(
    r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s[^<>]*)?)>|&(#\d+|#x[0-9a-fA-F]+|lt|gt|amp|quot);|[<>&]"
)
FAULTS = {
    "403": (403, "Forbidden: bot was blocked by the user"),
    "400": (400, "Bad Request: chat not found"),
    "429": (429, "Too Many Requests: retry after {retry_after}"),
    "migrate": (400, "Bad Request: group chat was upgraded to a supergroup chat"),
    "5xx": (502, "Bad Gateway"),
    "401": (401, "Unauthorized"),  # the token was revoked while the bot runs
    # Telegram's words when it refuses a message's form (its HTML, its length).
    "parse": (
        400,
        "Bad Request: can't parse entities: Can't find end of the entity starting at "
        "byte offset 17",
    ),
    "too_long": (400, "Bad Request: message is too long"),
}

# How long the test helpers wait for an event by default: a bound for a hung test, not
# a timing claim. A passing test returns as soon as the event happens; a machine busy
# with another test run can take many times longer than an idle one (tests say so
# where a delay is the point, and benches measure it).
WAIT_SECONDS = 60.0

# What api.telegram.org's front end answers while the Bot API behind it is down.
NGINX_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n"
    "</body>\r\n</html>\r\n"
)


class HtmlError(ValueError):
    pass


def parse_html(text: str) -> str:
    """Telegram's HTML parse mode: return the visible text or raise HtmlError."""
    out: list[str] = []
    stack: list[str] = []
    pos = 0
    for m in _TOKEN_RE.finditer(text):
        out.append(text[pos : m.start()])
        pos = m.end()
        token = m.group(0)
        if m.group(2):
            closing, tag = m.group(1) == "/", m.group(2).lower()
            if tag not in ALLOWED_TAGS:
                raise HtmlError(f'Unsupported start tag "{tag}" at byte offset {m.start()}')
            if closing:
                if not stack or stack[-1] != tag:
                    raise HtmlError(f"Unmatched end tag at byte offset {m.start()}")
                stack.pop()
            else:
                stack.append(tag)
        elif m.group(4):
            out.append(html.unescape(token))
        else:
            raise HtmlError(
                f'Unsupported start tag "{token}" at byte offset {m.start()}'
                if token == "<"
                else f"Can't find end of the entity starting at byte offset {m.start()}"
            )
    out.append(text[pos:])
    if stack:
        raise HtmlError(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return "".join(out)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass
class SentMessage:
    method: str
    chat_id: int
    message_id: int
    text: str | None  # text, or caption of a photo (raw, as sent)
    parse_mode: str | None
    reply_markup: dict[str, Any] | None
    photo_bytes: int = 0
    reply_to: int | None = None
    ts: float = 0.0
    photo: bytes = b""  # the image as uploaded, to compare what users saw
    paid: bool = False  # sent with allow_paid_broadcast
    by: str = ""  # the caller's tag (`base_url_for(tag)`)
    # False when the caller had gone (killed, or its request timed out) by the time the
    # answer was ready: Telegram kept the message, the sender never heard it had.
    answered: bool = True

    @property
    def visible(self) -> str:
        return parse_html(self.text or "") if self.parse_mode == "HTML" else (self.text or "")

    def buttons(self) -> list[tuple[str, str]]:
        """(label, callback_data) of every inline button, row by row."""
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [(b.get("text", ""), b.get("callback_data", "")) for row in rows for b in row]


@dataclass
class Fault:
    kind: str
    times: int
    chat_id: int | None = None
    method: str | None = None  # lower-case; None: any sending method
    retry_after: int = 1
    migrate_to: int | None = None
    description: str | None = None


@dataclass
class _Window:
    """Sliding window of accepted times."""

    limit: int
    seconds: float
    times: deque[float] = field(default_factory=deque)

    def retry_after(self, now: float) -> float:
        while self.times and self.times[0] <= now - self.seconds:
            self.times.popleft()
        if len(self.times) < self.limit:
            return 0.0
        return self.times[0] + self.seconds - now


class FakeTelegram:
    def __init__(
        self,
        token: str = TOKEN,
        *,
        username: str = "pressure_test_bot",
        global_per_second: int = 30,
        paid_per_second: int = 1000,
        private_per_second: float = 1.0,
        private_burst: int = 3,
        group_per_minute: int = 20,
        enforce_limits: bool = True,
        latency: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.username = username
        self.enforce_limits = enforce_limits
        self.latency = latency
        self._clock = clock
        self._global = _Window(global_per_second, 1.0)
        self._paid = _Window(paid_per_second, 1.0)
        self.paid_messages = 0
        self._private_rate = private_per_second
        self._private_burst = private_burst
        self._private: dict[int, tuple[float, float]] = {}
        self._group_limit = group_per_minute
        self._groups: dict[int, _Window] = {}
        # Records.
        self.sent: list[SentMessage] = []
        self.edits: list[SentMessage] = []
        self.calls: Counter[str] = Counter()
        self.flood_429s = 0
        self.flood_scopes: Counter[str] = Counter()  # which limit: global|private|group
        self.injected: Counter[str] = Counter()
        self.rejected: list[tuple[str, int | None, str]] = []  # method, chat, description
        self.answers: list[dict[str, Any]] = []
        # setMyCommands per scope (`scope_key`), as getMyCommands reads them back.
        self.menus: dict[str, list[dict[str, Any]]] = {}
        self.chat_actions: list[tuple[int, str]] = []
        self.admins: dict[int, set[int]] = {}
        self.faults: list[Fault] = []
        self.revoked = False
        self.down_until = 0.0  # clock time until which every call answers 502
        self.outage_502s = 0
        self.outage_html = True
        self.holds: dict[str, asyncio.Event] = {}  # method (lower case) -> answer when set
        # Who calls what, by the tag in `base_url_for(tag)` ("" for `base_url`).
        self.calls_by: dict[str, Counter[str]] = {}
        self.pollers: Counter[str] = Counter()  # getUpdates calls per tag
        self.conflicts = 0  # 409 answers to getUpdates: a webhook set, another poller
        self.webhook: dict[str, Any] | None = None  # url, secret_token, allowed_updates
        # getWebhookInfo's last_error_date (epoch s) and last_error_message, as Telegram
        # reports its failed deliveries; tests set it.
        self.webhook_error: tuple[int, str] | None = None
        self.webhook_deliveries = 0  # 2xx answers to deliver_webhook_to() posts
        self.webhook_failures = 0
        self._delivery: asyncio.Task[None] | None = None
        self._poll_seq = 0  # the newest getUpdates wins; earlier waiting ones get 409
        self._poll_tag = ""  # whose getUpdates is the newest
        # Update queue.
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._chats: dict[int, dict[str, Any]] = {}
        self._changed = asyncio.Condition()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -------------------------------------------------- lifecycle

    @property
    def base_url(self) -> str:
        """What to give PTB's `base_url` (PTB appends the token and the method)."""
        return f"http://127.0.0.1:{self.port}/bot"

    def base_url_for(self, tag: str) -> str:
        """`base_url` for one replica: calls through it are recorded under `tag`."""
        return f"http://127.0.0.1:{self.port}/{tag}/bot"

    @property
    def bot_user(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Pressure",
            "username": self.username,
        }

    async def start(self) -> FakeTelegram:
        app = web.Application(client_max_size=20 * 1024 * 1024)
        app.router.add_post("/bot{token}/{method}", self._handle)
        app.router.add_get("/bot{token}/{method}", self._handle)
        app.router.add_post("/{tag}/bot{token}/{method}", self._handle)
        app.router.add_get("/{tag}/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def close(self) -> None:
        self._closing = True
        async with self._changed:
            self._changed.notify_all()
        if self._delivery is not None:
            self._delivery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._delivery
        if self._runner is not None:
            await self._runner.cleanup()

    # -------------------------------------------------- webhook delivery

    def deliver_webhook_to(self, url: str, retry_seconds: float = 0.2) -> None:
        """Post queued updates, while a webhook is set, to `url` (the registered URL is a
        public https address; tests give the replica's or the balancer's loopback URL),
        one at a time and in order, with the registered secret in the
        X-Telegram-Bot-Api-Secret-Token header. Like Telegram, an update stays queued
        until a 2xx answer and a failure is reported in getWebhookInfo's last_error_*."""
        self._delivery = asyncio.get_running_loop().create_task(self._deliver(url, retry_seconds))

    async def _deliver(self, url: str, retry_seconds: float) -> None:
        async with aiohttp.ClientSession() as http:
            while not self._closing:
                async with self._changed:
                    await self._changed.wait_for(
                        lambda: self._closing or (self.webhook is not None and bool(self._updates))
                    )
                if self._closing or self.webhook is None or not self._updates:
                    continue
                update = self._updates[0]
                secret = self.webhook.get("secret_token")
                headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
                try:
                    async with http.post(url, json=update, headers=headers) as resp:
                        status, reason = resp.status, resp.reason
                except aiohttp.ClientError as exc:
                    status, reason = 0, str(exc) or type(exc).__name__
                if 200 <= status < 300:
                    self.webhook_deliveries += 1
                    if self._updates and self._updates[0] is update:
                        self._updates.pop(0)
                    await self._notify()
                    continue
                error = f"Wrong response from the webhook: {status} {reason}" if status else reason
                self.webhook_error = (int(time.time()), error)
                self.webhook_failures += 1
                await self._notify()
                await asyncio.sleep(retry_seconds)

    async def __aenter__(self) -> FakeTelegram:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -------------------------------------------------- test helpers: incoming

    def _chat(
        self, chat_id: int, chat_type: str | None = None, title: str | None = None
    ) -> dict[str, Any]:
        chat = self._chats.get(chat_id)
        if chat is None or chat_type is not None:
            if chat_type is None:
                chat_type = (
                    "private"
                    if chat_id > 0
                    else ("supergroup" if chat_id <= -1_000_000_000_000 else "group")
                )
            chat = {"id": chat_id, "type": chat_type}
            if chat_type == "private":
                chat["first_name"] = f"User{chat_id}"
            else:
                chat["title"] = title or f"Group {chat_id}"
            self._chats[chat_id] = chat
        return chat

    @staticmethod
    def _user(user_id: int) -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"}

    def _next_message_id(self, chat_id: int) -> int:
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))

    def _push(self, update: dict[str, Any]) -> int:
        update_id = next(self._update_ids)
        update["update_id"] = update_id
        self._updates.append(update)
        asyncio.get_running_loop().create_task(self._notify())
        return update_id

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def add_chat(self, chat_id: int, chat_type: str | None = None) -> None:
        """A chat that wrote to the bot before this run: Telegram knows it."""
        self._chat(chat_id, chat_type)

    def message_update(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        chat_type: str | None = None,
        title: str | None = None,
        sender_chat_id: int | None = None,
    ) -> int:
        """The update Telegram would post to a webhook when a user sends `text` (a
        leading /command gets its bot_command entity); not queued for getUpdates."""
        chat = self._chat(chat_id, chat_type, title)
        user_id = user_id if user_id is not None else (chat_id if chat_id > 0 else 1000)
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat_id),
            "date": int(time.time()),
            "chat": chat,
            "from": self._user(user_id),
            "text": text,
        }
        if sender_chat_id is not None:
            message["sender_chat"] = self._chat(sender_chat_id)
        if text.startswith("/"):
            command = text.split()[0] if text.split() else text
            message["entities"] = [
                {"type": "bot_command", "offset": 0, "length": utf16_len(command)}
            ]
        self._messages[(chat_id, message["message_id"])] = message
        return {"update_id": next(self._update_ids), "message": message}

    def push_message(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        chat_type: str | None = None,
        title: str | None = None,
        sender_chat_id: int | None = None,
    ) -> int:
        """A user sends `text` (a leading /command gets its bot_command entity)."""
        update = self.message_update(
            chat_id,
            text,
            user_id=user_id,
            chat_type=chat_type,
            title=title,
            sender_chat_id=sender_chat_id,
        )
        return self._push({"message": update["message"]})

    def push_callback(
        self,
        chat_id: int,
        data: str,
        *,
        message_id: int | None = None,
        user_id: int | None = None,
    ) -> str:
        """A user taps an inline button on one of the bot's messages (default: latest)."""
        if message_id is None:
            mine = [m for m in self.sent if m.chat_id == chat_id]
            if not mine:
                raise AssertionError(f"no bot message in chat {chat_id} to tap on")
            message_id = mine[-1].message_id
        message = self._messages[(chat_id, message_id)]
        user_id = user_id if user_id is not None else (chat_id if chat_id > 0 else 1000)
        query_id = f"cq{next(self._update_ids)}"
        self._push(
            {
                "callback_query": {
                    "id": query_id,
                    "from": self._user(user_id),
                    "chat_instance": f"ci{chat_id}",
                    "data": data,
                    "message": message,
                }
            }
        )
        return query_id

    def push_my_chat_member(
        self,
        chat_id: int,
        new_status: str,
        *,
        old_status: str = "member",
        user_id: int | None = None,
        chat_type: str | None = None,
    ) -> int:
        """The bot's membership changed: 'kicked' (blocked), 'member' (unblocked), ..."""
        user_id = user_id if user_id is not None else (chat_id if chat_id > 0 else 1000)

        def member(status: str) -> dict[str, Any]:
            data: dict[str, Any] = {"status": status, "user": self.bot_user}
            if status == "kicked":
                data["until_date"] = 0
            return data

        return self._push(
            {
                "my_chat_member": {
                    "chat": self._chat(chat_id, chat_type),
                    "from": self._user(user_id),
                    "date": int(time.time()),
                    "old_chat_member": member(old_status),
                    "new_chat_member": member(new_status),
                }
            }
        )

    def push_migrate(self, chat_id: int, to_chat_id: int) -> int:
        """The service message a group gets when it becomes a supergroup."""
        return self._push(
            {
                "message": {
                    "message_id": self._next_message_id(chat_id),
                    "date": int(time.time()),
                    "chat": self._chat(chat_id, "group"),
                    "from": self._user(1000),
                    "migrate_to_chat_id": to_chat_id,
                }
            }
        )

    def set_admins(self, chat_id: int, *user_ids: int) -> None:
        self.admins[chat_id] = set(user_ids)

    def fail(
        self,
        kind: str,
        *,
        times: int = 1,
        chat_id: int | None = None,
        method: str | None = None,
        retry_after: int = 1,
        migrate_to: int | None = None,
        description: str | None = None,
    ) -> None:
        """Answer the next `times` matching calls with an error instead."""
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; one of {sorted(FAULTS)}")
        self.faults.append(
            Fault(
                kind,
                times,
                chat_id,
                method.lower() if method else None,
                retry_after,
                migrate_to,
                description,
            )
        )

    def hold(self, method: str) -> asyncio.Event:
        """Calls to `method` arrive (counted in `calls`) but are answered only once the
        returned event is set: a test acts while a send is on the wire, whatever the
        machine's load, instead of counting on a latency being long enough."""
        gate = self.holds[method.lower()] = asyncio.Event()
        return gate

    def revoke_token(self) -> None:
        """The owner revoked the token in @BotFather: from now on every method, for this
        token, answers 401 Unauthorized, as Telegram does."""
        self.revoked = True

    def outage(self, seconds: float, *, html: bool = True) -> None:
        """Every call answers 502 Bad Gateway for the next `seconds`: the HTML page
        Telegram's nginx front end serves (`html=False`: the Bot API's JSON error)."""
        self.down_until = self._clock() + seconds
        self.outage_html = html

    @property
    def down(self) -> bool:
        return self._clock() < self.down_until

    # -------------------------------------------------- test helpers: outgoing

    def messages_to(self, chat_id: int) -> list[SentMessage]:
        return [m for m in self.sent if m.chat_id == chat_id]

    async def wait_until(
        self, predicate: Callable[[], bool], timeout: float = WAIT_SECONDS
    ) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), timeout)

    async def wait_for_messages(
        self, chat_id: int, n: int = 1, timeout: float = WAIT_SECONDS
    ) -> list[SentMessage]:
        """Wait until `n` messages went to `chat_id`; returns all of them so far."""
        try:
            await self.wait_until(lambda: len(self.messages_to(chat_id)) >= n, timeout)
        except TimeoutError:
            got = [m.visible[:80] for m in self.messages_to(chat_id)]
            raise AssertionError(
                f"expected {n} messages to {chat_id} within {timeout}s, got {len(got)}: {got}"
            ) from None
        return self.messages_to(chat_id)

    async def wait_for_edits(
        self, chat_id: int, n: int = 1, timeout: float = WAIT_SECONDS
    ) -> list[SentMessage]:
        await self.wait_until(
            lambda: len([e for e in self.edits if e.chat_id == chat_id]) >= n, timeout
        )
        return [e for e in self.edits if e.chat_id == chat_id]

    async def wait_for_answers(
        self, n: int = 1, timeout: float = WAIT_SECONDS
    ) -> list[dict[str, Any]]:
        await self.wait_until(lambda: len(self.answers) >= n, timeout)
        return self.answers

    async def wait_until_polled(self, timeout: float = WAIT_SECONDS) -> None:
        """Until every pushed update was fetched and confirmed by the bot."""
        await self.wait_until(lambda: not self._updates, timeout)

    # -------------------------------------------------- HTTP plumbing

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token or self.revoked:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        name = method.lower()
        params = await _params(request)
        self.calls[method] += 1
        tag = request.match_info.get("tag", "")
        self.calls_by.setdefault(tag, Counter())[method] += 1
        if name == "getupdates":
            self.pollers[tag] += 1
        if self.latency:
            await asyncio.sleep(self.latency)
        gate = self.holds.get(name)
        if gate is not None:
            await self._notify()  # so tests can wait for the held call to arrive
            await gate.wait()
        if self.down:
            self.outage_502s += 1
            await self._notify()
            if self.outage_html:
                return web.Response(status=502, text=NGINX_502, content_type="text/html")
            return _error(502, "Bad Gateway")
        handler = getattr(self, f"_m_{name}", None)
        if handler is None:
            return _error(404, "Not Found: method not found")
        if name == "getupdates":
            handler = functools.partial(handler, tag=tag)
        chat_id = params.get("chat_id")
        fault = self._take_fault(name, chat_id)
        if fault is not None:
            await self._notify()  # so tests can wait on `injected`
            return fault
        paid = _flag(params.get("allow_paid_broadcast")) and name in SEND_METHODS
        if name in FLOOD_METHODS and self.enforce_limits:
            limited = self._flood_check(chat_id, paid)
            if limited is not None:
                return limited
        try:
            result = await handler(params)
        except _ApiError as exc:
            self.rejected.append((method, chat_id, exc.description))
            return _error(exc.code, exc.description)
        if name in SEND_METHODS:
            transport = request.transport
            self._stamp(result, tag, answered=transport is not None and not transport.is_closing())
        async with self._changed:
            self._changed.notify_all()
        return web.json_response({"ok": True, "result": result})

    def _stamp(self, message: dict[str, Any], tag: str, *, answered: bool) -> None:
        chat_id, message_id = message["chat"]["id"], message["message_id"]
        for sent in reversed(self.sent):
            if sent.chat_id == chat_id and sent.message_id == message_id:
                sent.by, sent.answered = tag, answered
                return

    def _take_fault(self, name: str, chat_id: int | None) -> web.Response | None:
        for fault in self.faults:
            if fault.times <= 0:
                continue
            if fault.method is not None and fault.method != name:
                continue
            if fault.method is None and name not in FLOOD_METHODS:
                continue
            if fault.chat_id is not None and fault.chat_id != chat_id:
                continue
            fault.times -= 1
            self.injected[fault.kind] += 1
            code, text = FAULTS[fault.kind]
            text = fault.description or text.format(retry_after=fault.retry_after)
            params: dict[str, Any] | None = None
            if fault.kind == "429":
                params = {"retry_after": fault.retry_after}
            elif fault.kind == "migrate":
                params = {"migrate_to_chat_id": fault.migrate_to or -1_000_000_000_000 + 1}
            return _error(code, text, params)
        return None

    def _flood_check(self, chat_id: int | None, paid: bool = False) -> web.Response | None:
        now = self._clock()
        budget = self._paid if paid else self._global
        waits = [budget.retry_after(now)]
        if chat_id is not None and chat_id > 0:
            tokens, at = self._private.get(chat_id, (float(self._private_burst), now))
            tokens = min(float(self._private_burst), tokens + (now - at) * self._private_rate)
            waits.append(0.0 if tokens >= 1 else (1 - tokens) / self._private_rate)
        elif chat_id is not None:
            window = self._groups.setdefault(chat_id, _Window(self._group_limit, 60.0))
            waits.append(window.retry_after(now))
        wait = max(waits)
        if wait > 0:
            self.flood_429s += 1
            scope = "private" if chat_id is not None and chat_id > 0 else "group"
            if waits[0] == wait:
                scope = "paid" if paid else "global"
            self.flood_scopes[scope] += 1
            retry = max(1, math.ceil(wait))
            return _error(429, f"Too Many Requests: retry after {retry}", {"retry_after": retry})
        budget.times.append(now)
        if chat_id is not None and chat_id > 0:
            self._private[chat_id] = (tokens - 1, now)
        elif chat_id is not None:
            self._groups[chat_id].times.append(now)
        return None

    # -------------------------------------------------- methods

    async def _m_getme(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _m_setwebhook(self, params: dict[str, Any]) -> bool:
        url = params.get("url") or ""
        if not url:  # Telegram: an empty url removes the webhook
            return await self._m_deletewebhook(params)
        if not url.startswith("https://"):
            raise _ApiError(
                400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
            )
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise _ApiError(400, "Bad Request: secret token contains unallowed characters")
        self.webhook = {
            "url": url,
            "secret_token": secret,
            "allowed_updates": params.get("allowed_updates"),
        }
        if params.get("drop_pending_updates") in (True, "true", "True"):
            self._updates.clear()
        await self._notify()  # a waiting getUpdates ends with 409 (webhook is active)
        return True

    async def _m_deletewebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = None
        if params.get("drop_pending_updates") in (True, "true", "True"):
            self._updates.clear()
        return True

    async def _m_getwebhookinfo(self, params: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.webhook["url"] if self.webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.webhook and self.webhook.get("allowed_updates") is not None:
            info["allowed_updates"] = self.webhook["allowed_updates"]
        if self.webhook_error is not None:
            info["last_error_date"], info["last_error_message"] = self.webhook_error
        return info

    def _check_poll(self, mine: int, tag: str) -> None:
        if self.webhook is not None:
            self.conflicts += 1
            raise _ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        if self._poll_seq != mine:
            self.conflicts += self._poll_tag != tag
            raise _ApiError(
                409,
                "Conflict: terminated by other getUpdates request; "
                "make sure that only one bot instance is running",
            )

    async def _m_getupdates(self, params: dict[str, Any], tag: str) -> list[dict[str, Any]]:
        self._poll_seq += 1
        mine, self._poll_tag = self._poll_seq, tag
        self._check_poll(mine, tag)
        await self._notify()  # an earlier poll still waiting is terminated
        offset = params.get("offset")
        if offset:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            await self._notify()
        timeout = float(params.get("timeout") or 0)
        limit = int(params.get("limit") or 100)
        if not self._updates and timeout > 0 and not self._closing:
            with contextlib.suppress(TimeoutError):
                async with self._changed:
                    await asyncio.wait_for(
                        self._changed.wait_for(
                            lambda: (
                                bool(self._updates)
                                or self._closing
                                or self._poll_seq != mine
                                or self.webhook is not None
                            )
                        ),
                        timeout,
                    )
        self._check_poll(mine, tag)
        return self._updates[:limit]

    @property
    def commands(self) -> list[dict[str, Any]]:
        """The default scope's menu (setMyCommands without a scope)."""
        return self.menus.get("default", [])

    def menu_names(self, scope: str = "default") -> list[str]:
        return [c["command"] for c in self.menus.get(scope, [])]

    def _scope_key(self, params: dict[str, Any]) -> str:
        """ "default", "all_private_chats", "chat:42", "chat_member:-100:42", ...; the
        language code, when given, after a slash. Chat scopes need a chat the bot knows,
        as Telegram's do ("chat not found" for a user who never wrote to the bot)."""
        scope = params.get("scope") or {"type": "default"}
        kind = scope.get("type")
        if kind in SCOPES_WITHOUT_CHAT:
            key = str(kind)
        elif kind in ("chat", "chat_administrators", "chat_member"):
            chat_id = scope.get("chat_id")
            if not isinstance(chat_id, int) or chat_id not in self._chats:
                raise _ApiError(400, "Bad Request: chat not found")
            if kind == "chat_administrators" and chat_id > 0:
                raise _ApiError(
                    400, "Bad Request: can't use chat_administrators scope in private chats"
                )
            key = f"{kind}:{chat_id}"
            if kind == "chat_member":
                key += f":{scope.get('user_id')}"
        else:
            raise _ApiError(400, "Bad Request: wrong parameter scope")
        language = params.get("language_code")
        return f"{key}/{language}" if language else key

    async def _m_setmycommands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands") or []
        if len(commands) > 100:
            raise _ApiError(400, "Bad Request: too many commands")
        for c in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", c.get("command", "")):
                raise _ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(c.get("description", "")) <= 256:
                raise _ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        self.menus[self._scope_key(params)] = commands
        return True

    async def _m_getmycommands(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return self.menus.get(self._scope_key(params), [])

    async def _m_deletemycommands(self, params: dict[str, Any]) -> bool:
        self.menus.pop(self._scope_key(params), None)
        return True

    async def _m_sendchataction(self, params: dict[str, Any]) -> bool:
        self.chat_actions.append((params["chat_id"], params.get("action", "")))
        return True

    async def _m_answercallbackquery(self, params: dict[str, Any]) -> bool:
        if len(params.get("text") or "") > 200:
            raise _ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        self.answers.append(params)
        return True

    async def _m_getchatmember(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id, user_id = params["chat_id"], params["user_id"]
        user = self._user(user_id)
        if chat_id > 0:
            return {"status": "member", "user": user}
        if user_id in self.admins.get(chat_id, set()):
            return {
                "status": "administrator",
                "user": user,
                "can_be_edited": False,
                "is_anonymous": False,
                "can_manage_chat": True,
                "can_delete_messages": True,
                "can_manage_video_chats": True,
                "can_restrict_members": True,
                "can_promote_members": False,
                "can_change_info": True,
                "can_invite_users": True,
                "can_post_stories": False,
                "can_edit_stories": False,
                "can_delete_stories": False,
            }
        return {"status": "member", "user": user}

    def _check_markup(self, markup: dict[str, Any] | None) -> None:
        for row in (markup or {}).get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(data.encode()) <= 64:
                    raise _ApiError(400, "Bad Request: BUTTON_DATA_INVALID")

    def _visible(self, text: str, parse_mode: str | None) -> str:
        if parse_mode != "HTML":
            return text
        try:
            return parse_html(text)
        except HtmlError as exc:
            raise _ApiError(400, f"Bad Request: can't parse entities: {exc}") from None

    def _record(
        self,
        method: str,
        params: dict[str, Any],
        message: dict[str, Any],
        text: str | None,
        photo_bytes: int = 0,
        photo: bytes = b"",
    ) -> SentMessage:
        reply = params.get("reply_parameters") or {}
        return SentMessage(
            method=method,
            chat_id=params["chat_id"],
            message_id=message["message_id"],
            text=text,
            parse_mode=params.get("parse_mode"),
            reply_markup=params.get("reply_markup"),
            photo_bytes=photo_bytes,
            reply_to=reply.get("message_id"),
            ts=self._clock(),
            photo=photo,
            paid=_flag(params.get("allow_paid_broadcast")),
        )

    def _new_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = params["chat_id"]
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat_id),
            "date": int(time.time()),
            "chat": self._chat(chat_id),
            "from": self.bot_user,
        }
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        return message

    async def _m_sendmessage(self, params: dict[str, Any]) -> dict[str, Any]:
        text = params.get("text") or ""
        visible = self._visible(text, params.get("parse_mode"))
        if not visible.strip():
            raise _ApiError(400, "Bad Request: message text is empty")
        if utf16_len(visible) > 4096:
            raise _ApiError(400, "Bad Request: message is too long")
        self._check_markup(params.get("reply_markup"))
        message = self._new_message(params)
        message["text"] = visible
        self._messages[(params["chat_id"], message["message_id"])] = message
        self.sent.append(self._record("sendMessage", params, message, text))
        self.paid_messages += self.sent[-1].paid
        return message

    async def _m_sendphoto(self, params: dict[str, Any]) -> dict[str, Any]:
        photo = params.get("photo")
        if not isinstance(photo, bytes) or not photo:
            raise _ApiError(400, "Bad Request: there is no photo in the request")
        if not photo.startswith(b"\x89PNG") and not photo.startswith(b"\xff\xd8"):
            raise _ApiError(400, "Bad Request: IMAGE_PROCESS_FAILED")
        caption = params.get("caption")
        if caption is not None:
            visible = self._visible(caption, params.get("parse_mode"))
            if utf16_len(visible) > 1024:
                raise _ApiError(400, "Bad Request: message caption is too long")
        self._check_markup(params.get("reply_markup"))
        message = self._new_message(params)
        message["photo"] = [
            {
                "file_id": f"ph{message['message_id']}",
                "file_unique_id": f"u{message['message_id']}",
                "width": 640,
                "height": 320,
                "file_size": len(photo),
            }
        ]
        if caption is not None:
            message["caption"] = visible
        self._messages[(params["chat_id"], message["message_id"])] = message
        self.sent.append(self._record("sendPhoto", params, message, caption, len(photo), photo))
        self.paid_messages += self.sent[-1].paid
        return message

    def _stored(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._messages.get((params.get("chat_id"), params.get("message_id")))
        if message is None or message.get("from", {}).get("id") != self.bot_id:
            raise _ApiError(400, "Bad Request: message to edit not found")
        return message

    async def _m_editmessagetext(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._stored(params)
        text = params.get("text") or ""
        visible = self._visible(text, params.get("parse_mode"))
        if utf16_len(visible) > 4096:
            raise _ApiError(400, "Bad Request: message is too long")
        if "text" not in message:
            raise _ApiError(400, "Bad Request: there is no text in the message to edit")
        markup = params.get("reply_markup")
        if message.get("text") == visible and message.get("reply_markup") == markup:
            raise _ApiError(
                400,
                "Bad Request: message is not modified: specified new message "
                "content and reply markup are exactly the same",
            )
        self._check_markup(markup)
        message["text"] = visible
        message["reply_markup"] = markup
        if markup is None:
            message.pop("reply_markup")
        self.edits.append(self._record("editMessageText", params, message, text))
        return message

    async def _m_editmessagereplymarkup(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._stored(params)
        markup = params.get("reply_markup")
        if message.get("reply_markup") == markup:
            raise _ApiError(
                400,
                "Bad Request: message is not modified: specified new message "
                "content and reply markup are exactly the same",
            )
        self._check_markup(markup)
        message["reply_markup"] = markup
        self.edits.append(
            self._record("editMessageReplyMarkup", params, message, message.get("text"))
        )
        return message


class _ApiError(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def _error(code: int, description: str, parameters: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=code)


def _flag(value: Any) -> bool:
    """A Bot API boolean as PTB posts it: JSON `true` in a form field, or a real bool."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


async def _params(request: web.Request) -> dict[str, Any]:
    out: dict[str, Any] = dict(request.query)
    if request.can_read_body:
        if request.content_type == "application/json":
            out.update(await request.json())
        else:
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    out[key] = value.file.read()
                else:
                    out[key] = value
    for key, value in list(out.items()):
        if not isinstance(value, str):
            continue
        if key in JSON_FIELDS:
            out[key] = json.loads(value)
        elif key in INT_FIELDS:
            with contextlib.suppress(ValueError):
                out[key] = int(value)
        elif key == "timeout":
            out[key] = float(value)
    return out
