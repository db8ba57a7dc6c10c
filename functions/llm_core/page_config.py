"""The small document the page reads at start (``/config.json``): the limits it must respect and how it
signs in. The emulator serves it; the publish step writes it from the stack. The page hard-codes none of it."""

from __future__ import annotations

from typing import Any

from llm_core.contract import MAX_BULLETS


def page_config(max_input_chars: int, auth: dict[str, Any] | None = None) -> dict[str, Any]:
    """``auth`` is ``{"mode": "none"}`` when no sign-in is needed (local work, a public demo)."""
    return {
        "limits": {"max_input_chars": max_input_chars, "max_bullets": MAX_BULLETS},
        "auth": auth or {"mode": "none"},
    }
