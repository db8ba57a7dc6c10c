"""What a budget refusal says: which budget stopped the request, what it leaves, and what would fit.

budget.py decides whether a request fits and which error it gets; this module words the answer. Each piece of
advice is measured so that a person who follows it literally is not refused again (tests/functional/
test_budget.py follows each one): against the smaller cap first, and against the least any budget leaves.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from llm_core.settings import PER_USER_CAP_VARIABLE, TOTAL_CAP_VARIABLE
from llm_core.token_estimate import TOKENS_PER_CHARACTER, TextSize

if TYPE_CHECKING:
    from llm_core.budget import Budget


def reset_after(now: datetime) -> tuple[datetime, int, str]:
    """The budgets' next reset (midnight UTC), the whole seconds until it, and that wait in words."""
    reset = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
    seconds = max(math.ceil((reset - now).total_seconds()), 1)
    hours, minutes = divmod(math.ceil(seconds / 60), 60)
    return reset, seconds, f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def quota_exceeded_message(
    left: dict[Budget, int], held: dict[Budget, int], tokens: int, smallest: int, now: datetime, text: TextSize | None
) -> str:
    """The refusal of a request of ``tokens`` by the budgets that leave ``left`` today, where requests still under
    way hold ``held`` of each budget's used tokens, when their ending could make room for this request (empty
    otherwise). A budget with less left than the ``smallest`` request to this function could need
    is out of reach here (spent, when nothing is left); one with more cannot hold this request's worst case,
    though a shorter request would pass."""
    reset, _, wait = reset_after(now)
    under_way = _under_way(held) if any(held.values()) else ""
    out_of_reach = {budget: tokens_left for budget, tokens_left in left.items() if tokens_left < smallest}
    if out_of_reach:
        return (
            f"{_out_of_reach(out_of_reach, smallest)}{under_way} It resets at midnight UTC "
            f"({reset:%Y-%m-%d %H:%M} UTC), in {wait}; the model was not called."
        )
    what_is_left = " and ".join(
        f"{_whose(budget)} daily budget has {tokens_left:,} of {budget.cap:,} left"
        for budget, tokens_left in left.items()
    )
    return (
        f"This request could use up to {tokens:,} tokens, and {what_is_left}: "
        f"{_what_fits(tokens, min(left.values()), text)}, or wait for the reset at midnight UTC "
        f"({reset:%Y-%m-%d %H:%M} UTC), in {wait}.{under_way} The model was not called."
    )


def _under_way(held: dict[Budget, int]) -> str:
    """What requests still under way hold of each budget, as a sentence after a space: they give back what they
    do not use when they end, so a retry may fit long before the reset."""
    holding = {budget: tokens for budget, tokens in held.items() if tokens}
    whose = "Your requests" if all(budget.scope == "caller" for budget in holding) else "Requests"
    portions = " and ".join(f"{tokens:,} tokens of {_whose(budget)} daily budget" for budget, tokens in holding.items())
    return (
        f" {whose} still under way hold {portions} until they end; what they do not use comes back then, so "
        "trying again when they finish may fit."
    )


def too_large_message(
    budget: Budget,
    tokens: int,
    max_output_tokens: int,
    smallest: int,
    left_today: dict[Budget, int],
    now: datetime,
    text: TextSize | None,
) -> str:
    """The refusal of a request whose worst case, ``tokens``, passes ``budget``, the smallest cap, whole; given
    what every budget leaves today (its whole cap where the row could not be read)."""
    lowest, left = min(left_today.items(), key=lambda item: item[1])
    whose = f"{_whose(budget)} whole daily budget"
    if smallest > budget.cap:
        # Even the shortest request cannot fit: only the deployment's owner can change that.
        # The template's parameter, and the variable it sets, which is what `make dev` reads from the shell.
        if budget.scope == "caller":
            setting = f"DailyTokensPerUser ({PER_USER_CAP_VARIABLE})"
        else:
            setting = f"DailyTokensTotal ({TOTAL_CAP_VARIABLE})"
        return (
            f"Even the shortest request to this function may use up to {smallest:,} tokens ({max_output_tokens:,} "
            f"of them output), more than {whose} of {budget.cap:,}: the deployment's owner must raise {setting} or "
            "lower this function's MAX_OUTPUT_TOKENS."
        )
    too_large = f"This request could use up to {tokens:,} tokens, more than {whose} of {budget.cap:,}"
    if left < smallest:
        # No shorter request fits today either; after the reset, one shorter by its excess over the cap does.
        reset, _, wait = reset_after(now)
        if lowest == budget:
            today = f"The {left:,} left of it today {'is' if left == 1 else 'are'}"
        else:
            today = f"{_whose(lowest).capitalize()} daily budget has {left:,} left today,"
        return (
            f"{too_large}: {_what_fits(tokens, budget.cap, text)}, after the reset at midnight UTC "
            f"({reset:%Y-%m-%d %H:%M} UTC), in {wait}. {today} fewer than the {smallest:,} even the shortest "
            "request here may use."
        )
    # Counted against the least any budget leaves today, so that a request shortened as told is not refused again.
    if left == budget.cap:
        where = ""
    elif lowest == budget:
        where = f", of which {left:,} {'is' if left == 1 else 'are'} left today"
    else:
        where = f", and {_whose(lowest)} daily budget has {left:,} left today"
    return f"{too_large}{where}: {_what_fits(tokens, left, text)}."


def _out_of_reach(left: dict[Budget, int], smallest: int) -> str:
    if not any(left.values()):
        return _spent(list(left))
    # Each budget as it stands, the spent ones so named; then why what is left does not serve here.
    states = " and ".join(
        f"{_whose(budget)} daily budget of {budget.cap:,} tokens is spent"
        if not tokens_left
        else f"{_whose(budget)} daily budget has {tokens_left:,} of {budget.cap:,} left"
        for budget, tokens_left in left.items()
    )
    return f"{states[0].upper()}{states[1:]}, less than the {smallest:,} the shortest request here may use."


def _whose(budget: Budget) -> str:
    return "your" if budget.scope == "caller" else "this deployment's"


def _spent(budgets: list[Budget]) -> str:
    scopes = {budget.scope for budget in budgets}
    caller_cap = next((budget.cap for budget in budgets if budget.scope == "caller"), 0)
    if scopes == {"caller", "deployment"}:
        return f"Your daily budget of {caller_cap:,} tokens and this deployment's daily budget are both spent."
    if scopes == {"caller"}:
        return f"Your daily budget of {caller_cap:,} tokens is spent."
    return "This deployment's daily token budget, shared by everyone who uses it, is spent."


def _what_fits(tokens: int, left: int, text: TextSize | None) -> str:
    """What makes a request of ``tokens`` fit in ``left``: so many characters fewer (the estimate counts
    TOKENS_PER_CHARACTER a character). In a conversation, from the parts a person can shorten: the newest
    message; the instructions with it, when the message alone cannot give that much back; and a new chat
    without the earlier turns, when that (with the message or instructions shorter, if need be) would fit."""
    characters = math.ceil((tokens - left) / TOKENS_PER_CHARACTER)
    if text is None or text.newest_chars is None:
        return f"make it at least {_characters(characters)} shorter"
    in_a_new_chat = (
        None if text.new_chat_tokens is None else math.ceil((text.new_chat_tokens - left) / TOKENS_PER_CHARACTER)
    )
    if characters < text.newest_chars:
        shorter = f"make your message at least {_characters(characters)} shorter"
        # A new chat may keep the whole message: worth saying beside a cut of most of it.
        return f"{shorter}, or start a new chat" if in_a_new_chat is not None and in_a_new_chat <= 0 else shorter
    if in_a_new_chat is None:
        # One message, which cannot give that much back: only the instructions beside it can (a message with none
        # always can, since a budget with less than the shortest request left is refused as such).
        return f"make your message and the instructions at least {_characters(characters)} shorter together"
    if in_a_new_chat <= 0:
        return "start a new chat, as the earlier turns count too"
    if in_a_new_chat < text.newest_chars:
        return (
            f"start a new chat, as the earlier turns count too, with your message at least "
            f"{_characters(in_a_new_chat)} shorter"
        )
    # Even a message of one character would not fit beside these instructions.
    return (
        "start a new chat, as the earlier turns count too, with your message and the instructions at least "
        f"{_characters(in_a_new_chat)} shorter together"
    )


def _characters(count: int) -> str:
    return f"{count:,} character{'' if count == 1 else 's'}"
