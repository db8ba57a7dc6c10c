"""The shared core of the three functions: settings, the key, the OpenAI client, prompts, errors, budgets."""

from llm_core import budget, identity, model_client, secret, settings


def reset_caches() -> None:
    """Forget settings, clients and the cached key, as a new Lambda execution environment would."""
    settings.get_settings.cache_clear()
    secret.forget_key()
    model_client.forget_clients()
    identity.forget_verifier()
    budget.forget_client()
