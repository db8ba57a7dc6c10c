"""The shared core of the three functions: settings, the key, the OpenAI client, prompts, errors, budgets."""

from llm_core import budget, model_client, secret, settings


def reset_caches() -> None:
    """Forget settings, clients and the cached key, as a new Lambda execution environment would."""
    settings.get_settings.cache_clear()
    budget._client.cache_clear()
    secret._provider.cache_clear()
    model_client.get_client.cache_clear()
    model_client.get_async_client.cache_clear()
