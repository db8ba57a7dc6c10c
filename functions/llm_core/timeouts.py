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

from botocore.config import Config

BUFFERED_FUNCTION_TIMEOUT_SECONDS = 30
STREAM_FUNCTION_TIMEOUT_SECONDS = 120
# The longest a cold start may add before the handler runs (Lambda's init phase is capped at 10 s).
COLD_START_ALLOWANCE_SECONDS = 10
# For a buffered origin, the whole answer; for a streamed one, the longest gap between two chunks.
CLOUDFRONT_ORIGIN_READ_TIMEOUT_SECONDS = 60
# A comment line at least this often keeps a silent stream inside CloudFront's wait between two chunks (the
# origin read timeout) and the idle limit of proxies on a viewer's side (often 30 s).
KEEPALIVE_SECONDS = 15
# How long the Web Adapter keeps its idle connection to the stream app before closing it (its default, which
# template.yaml states as AWS_LWA_POOL_IDLE_TIMEOUT_SECONDS).
WEB_ADAPTER_POOL_IDLE_SECONDS = 4
# How long uvicorn keeps that idle connection (run_stream.sh): well past the adapter's, so the adapter, the
# client, always closes it first, and never sends a request down a connection uvicorn is closing (uvicorn's
# 5 s default left a second between the two).
ADAPTER_CONNECTION_IDLE_SECONDS = 60
# After the answer's last event, how long the stream reads on for the end of the model's body (it comes at
# once), so the connection can serve the next answer; a body that does not end is closed instead.
ANSWER_BODY_END_SECONDS = 1.0

# Secrets Manager, SSM and DynamoDB answer in milliseconds in the function's region: these bound a stuck
# call, not a slow one. Every boto3 client of the request path is made with AWS_CLIENT_CONFIG.
AWS_CONNECT_TIMEOUT_SECONDS = 1
AWS_READ_TIMEOUT_SECONDS = 2
AWS_MAX_ATTEMPTS = 2
# botocore's "max_attempts" counts the retries after the first attempt; "total_max_attempts" counts them all.
AWS_CLIENT_CONFIG = Config(
    connect_timeout=AWS_CONNECT_TIMEOUT_SECONDS,
    read_timeout=AWS_READ_TIMEOUT_SECONDS,
    retries={"total_max_attempts": AWS_MAX_ATTEMPTS, "mode": "standard"},
)
# For a write that must not be applied twice: a budget reservation, settlement or give-back adds to a total,
# and a retry after DynamoDB applied it but its answer was lost (a read timeout, a 500) would add it twice.
AWS_ONE_ATTEMPT_CONFIG = AWS_CLIENT_CONFIG.merge(Config(retries={"total_max_attempts": 1, "mode": "standard"}))
# Such a write is tried once more only when it surely was not applied: DynamoDB throttled it, or it never left
# (no connection). The second attempt waits up to this long first (full jitter), so that two functions
# throttled together do not come back together.
BUDGET_WRITE_RETRY_PAUSE_SECONDS = 0.05
# Lambda's Extensions API is on the environment's own loopback: a call that takes longer is broken (all but
# the extension's next call, which waits for the next invocation).
EXTENSIONS_API_TIMEOUT_SECONDS = 2.0
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
# The longest Retry-After the SDK may sleep through before its retry. Someone is watching "Answering..." on the
# page: past this, they are better told at once to try again in N seconds (the 429 passes Retry-After on)
# than kept waiting, as the stream's long timeout would otherwise allow (twice 30 s for a 30 s Retry-After).
MAX_RETRY_WAIT_SECONDS = 5.0


def aws_call_worst_case_seconds(attempts: int = AWS_MAX_ATTEMPTS) -> float:
    return attempts * (AWS_CONNECT_TIMEOUT_SECONDS + AWS_READ_TIMEOUT_SECONDS)


def before_the_model_worst_case_seconds() -> float:
    """Every dependency before the model call stuck to its limit at once: the secret, SSM's client id, the
    budget's reservation (its rows written in parallel, each at most twice, with a pause between), and the key
    set's connect and one read."""
    return 2 * aws_call_worst_case_seconds() + _budget_write_worst_case_seconds() + 2 * JWKS_TIMEOUT_SECONDS


def refused_worst_case_seconds() -> float:
    """The same, for a request one budget refuses: the other row then gives its part back, written as the
    reservation was, before the refusal is answered."""
    return before_the_model_worst_case_seconds() + _budget_write_worst_case_seconds()


def _budget_write_worst_case_seconds() -> float:
    return aws_call_worst_case_seconds() + BUDGET_WRITE_RETRY_PAUSE_SECONDS
