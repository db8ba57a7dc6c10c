"""The small document the page reads at start (``/config.json``): the limits it must respect, the defaults it
offers, the TODO priority scale it draws and how it signs in. The emulator serves it; the publish step writes it
from the stack. The page hard-codes none of it."""

from __future__ import annotations

from typing import Any

from llm_core.contract import DEFAULT_TIMEZONE
from llm_core.identity import TOKEN_HEADER
from llm_core.prompts import DEFAULT_BULLETS, HIGHEST_PRIORITY, MAX_BULLETS, PRIORITY_NAMES


def page_config(max_input_chars: int, auth: dict[str, Any] | None = None) -> dict[str, Any]:
    """``auth`` is ``{"mode": "none"}`` when no sign-in is needed (local work, a public demo)."""
    return {
        "limits": {"max_input_chars": max_input_chars, "max_bullets": MAX_BULLETS},
        "defaults": {"max_bullets": DEFAULT_BULLETS, "timezone": DEFAULT_TIMEZONE},
        "priorities": [
            {"value": value, "name": name} for value, name in enumerate(PRIORITY_NAMES, start=HIGHEST_PRIORITY)
        ],
        "auth": auth or {"mode": "none"},
    }


def cognito_auth(user_pool_id: str, client_id: str, login_domain: str, site_url: str) -> dict[str, Any]:
    """``auth`` for a page that signs in with authorization code + PKCE at ``login_domain`` and comes back to
    ``site_url`` (also where sign-out lands)."""
    return {
        "mode": "cognito",
        "region": user_pool_id.split("_", 1)[0],
        "user_pool_id": user_pool_id,
        "client_id": client_id,
        "domain": login_domain,
        "redirect_uri": site_url,
        "logout_uri": site_url,
        "scopes": ["openid", "email"],
        "header": TOKEN_HEADER,
    }
