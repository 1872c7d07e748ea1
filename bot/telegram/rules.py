"""/rule add|test|list|remove|fields, and the built-ins: /rule builtin|on|off (docs/rules.md).
In groups, adding, removing and switching are for chat administrators only; anyone may
test a rule or list them.

`/rule add` answers with the same backtest as `/rule test`, then the confirmation.
"""

from __future__ import annotations

from telegram import Update

from bot.alerts.rules.parser import RuleError, parse_rule
from bot.alerts.rules.tree import Rule
from bot.telegram import render
from bot.telegram.auth import can_manage_chat
from bot.telegram.deps import BotContext, reply
from bot.telegram.subscriptions import ensure_chat
from bot.telegram.symbols import resolve
from bot.telegram.venue_words import venue_universe
from bot.views import builtin_rules, rule_actions
from bot.views.actions import UserError


async def rule(update: Update, context: BotContext) -> None:
    args = context.args or []
    action = args[0].lower() if args else ""
    if action == "list":
        await _list(update, context)
    elif action == "fields":
        await reply(update, context, render.rule_fields())
    elif action in ("builtin", "builtins"):
        await builtin_list(update, context)
    elif action in ("on", "off") and len(args) > 1:
        if not await can_manage_chat(update, context):
            await reply(update, context, render.group_admins_only())
        elif action == "on":
            await builtin_on(update, context, args[1], args[2] if len(args) > 2 else None)
        else:
            await builtin_off(update, context, args[1])
    elif action == "test" and len(args) > 1:
        parsed = await _parse(update, context, " ".join(args[1:]))
        if parsed is not None:
            test = await rule_actions.test_rule(context.deps, parsed)
            await reply(update, context, render.rule_test(test, context.deps.quotes))
    elif action in ("add", "remove", "rm", "delete") and len(args) > 1:
        if not await can_manage_chat(update, context):
            await reply(update, context, render.group_admins_only())
        elif action == "add" and len(args) > 2:
            await _add(update, context, args[1], " ".join(args[2:]))
        elif action != "add":
            await _remove(update, context, args[1])
        else:
            await reply(update, context, render.rule_usage())
    else:
        await reply(update, context, render.rule_usage())


async def _parse(update: Update, context: BotContext, text: str) -> Rule | None:
    """The rule, its symbol resolved on the default view; None once the user is told why."""
    deps = context.deps
    try:
        parsed = parse_rule(text)
    except RuleError as err:
        await reply(update, context, render.rule_error(err.message, err.pointer()))
        return None
    if parsed.symbol is None:
        return parsed
    match = resolve(parsed.symbol, await venue_universe(deps, None), deps.quotes)
    if match.symbol is None:
        await reply(
            update,
            context,
            render.unknown_symbol(match.query, match.suggestions),
            render.suggestion_keyboard(match.suggestions),
        )
        return None
    return Rule(parsed.condition, parsed.for_cycles, match.symbol)


async def _add(update: Update, context: BotContext, name: str, text: str) -> None:
    deps = context.deps
    chat = update.effective_chat
    assert chat is not None
    try:
        rule_actions.check_name(name)
    except UserError as error:
        await reply(update, context, render.rule_refused(error.code, error.params))
        return
    parsed = await _parse(update, context, text)
    if parsed is None:
        return
    await ensure_chat(deps, update)
    test = await rule_actions.test_rule(deps, parsed)
    try:
        stored = await rule_actions.add_rule(deps, chat.id, name, parsed)
    except UserError as error:
        await reply(update, context, render.rule_refused(error.code, error.params))
        return
    await reply(update, context, render.rule_added(stored, test, deps.exchange, deps.quotes))


async def _list(update: Update, context: BotContext) -> None:
    deps = context.deps
    chat = update.effective_chat
    assert chat is not None
    rules = await rule_actions.list_rules(deps, chat.id)
    cap = deps.settings.alerts.rules_per_chat
    await reply(update, context, render.rule_list(rules, cap, deps.quotes))


async def _remove(update: Update, context: BotContext, name: str) -> None:
    chat = update.effective_chat
    assert chat is not None
    target = None if name.lower() == "all" else name
    count = await rule_actions.remove_rule(context.deps, chat.id, target)
    await reply(update, context, render.rule_removed(target, count))


# ---------------------------------------------------------------- built-ins


async def builtin_list(update: Update, context: BotContext) -> None:
    deps = context.deps
    chat = update.effective_chat
    assert chat is not None
    found = await builtin_rules.chat_builtins(deps, chat.id, deps.builtin_evidence)
    await reply(update, context, render.builtin_list(found, deps.quotes))


async def builtin_on(update: Update, context: BotContext, name: str, where: str | None) -> None:
    """`/rule on NAME [SYMBOL]`: the built-in stored as the chat's rule, answered with its
    backtest as `/rule add` is."""
    deps = context.deps
    chat = update.effective_chat
    assert chat is not None
    symbol = None
    if where is not None and where.lower() != "market":
        match = resolve(where, await venue_universe(deps, None), deps.quotes)
        if match.symbol is None:
            await reply(update, context, render.unknown_symbol(match.query, match.suggestions))
            return
        symbol = match.symbol
    try:
        builtin, parsed = builtin_rules.builtin_rule(name, symbol)
        await ensure_chat(deps, update)
        test = await rule_actions.test_rule(deps, parsed)
        stored = await builtin_rules.switch_on(deps, chat.id, builtin, parsed)
    except UserError as error:
        await reply(update, context, render.rule_refused(error.code, error.params))
        return
    await reply(update, context, render.rule_added(stored, test, deps.exchange, deps.quotes))


async def builtin_off(update: Update, context: BotContext, name: str) -> None:
    chat = update.effective_chat
    assert chat is not None
    try:
        count = await builtin_rules.switch_off(context.deps, chat.id, name)
    except UserError as error:
        await reply(update, context, render.rule_refused(error.code, error.params))
        return
    await reply(update, context, render.rule_removed(name.lower(), count))
