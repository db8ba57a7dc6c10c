"""Every timeout of a request's path, in one place, and why each is what it is (docs/architecture.md,
"Timeouts"). template.yaml repeats the deployed ones (CloudFormation cannot import Python);
tests/template/test_timeouts.py checks that it agrees and that the chain holds: each layer gives up
before the one in front of it, so the caller always gets our answer rather than a gateway's.

    viewer -> CloudFront (origin read timeout) -> function URL -> function timeout
           -> before the model: the secret, the sign-in's client id (SSM) and key set (JWKS), the budget
              reservation (DynamoDB), each connect + read per attempt
           -> OpenAI SDK (connect, each attempt clamped to the time left less the response margin,
              retries only when they fit)
"""

from __future__ import annotations

BUFFERED_FUNCTION_TIMEOUT_SECONDS = 30
STREAM_FUNCTION_TIMEOUT_SECONDS = 120
# The longest a cold start may add before the handler runs (Lambda's init phase is capped at 10 s).
COLD_START_ALLOWANCE_SECONDS = 10
# For a buffered origin, the whole answer; for a streamed one, the longest gap between two chunks.
CLOUDFRONT_ORIGIN_READ_TIMEOUT_SECONDS = 60
# CloudFront drops an idle viewer connection after 30 s; a comment line at least this often keeps it open.
KEEPALIVE_SECONDS = 15

# AWS APIs in the function's region answer in milliseconds: these bound a stuck call, not a slow one.
SECRETS_CONNECT_TIMEOUT_SECONDS = 1
SECRETS_READ_TIMEOUT_SECONDS = 2
SECRETS_MAX_ATTEMPTS = 2
SSM_CONNECT_TIMEOUT_SECONDS = 1
SSM_READ_TIMEOUT_SECONDS = 2
SSM_MAX_ATTEMPTS = 2
BUDGET_CONNECT_TIMEOUT_SECONDS = 1
BUDGET_READ_TIMEOUT_SECONDS = 2
BUDGET_MAX_ATTEMPTS = 2
# The user pool's key set, fetched with urllib: one timeout for the connect and for each read, one attempt.
JWKS_TIMEOUT_SECONDS = 2.0

OPENAI_CONNECT_TIMEOUT_SECONDS = 3.0
# The SDK's default is 2 retries with back-off; each is bounded by the deadline below, and skipped when the
# wait it asks for cannot fit.
OPENAI_MAX_RETRIES = 2
# Left for building the response, flushing metrics and logs after the model answered.
RESPONSE_MARGIN_SECONDS = 1.0
# The smallest attempt worth starting after a retry wait.
MIN_ATTEMPT_SECONDS = 1.0
DEFAULT_RETRY_WAIT_SECONDS = 1.0


def secret_read_worst_case_seconds() -> float:
    return SECRETS_MAX_ATTEMPTS * (SECRETS_CONNECT_TIMEOUT_SECONDS + SECRETS_READ_TIMEOUT_SECONDS)


def before_the_model_worst_case_seconds() -> float:
    """Every dependency before the model call stuck to its limit at once: the secret, SSM, the key set
    (its connect and one read) and the budget's two rows, written in parallel."""
    return (
        secret_read_worst_case_seconds()
        + SSM_MAX_ATTEMPTS * (SSM_CONNECT_TIMEOUT_SECONDS + SSM_READ_TIMEOUT_SECONDS)
        + 2 * JWKS_TIMEOUT_SECONDS
        + BUDGET_MAX_ATTEMPTS * (BUDGET_CONNECT_TIMEOUT_SECONDS + BUDGET_READ_TIMEOUT_SECONDS)
    )
