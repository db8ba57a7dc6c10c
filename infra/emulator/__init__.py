"""The page and the three endpoints on one local server, with no Docker and no AWS account (`make dev`).

Lambda Function URLs cannot be served by `sam local` (aws-sam-cli #4299), which also buffers streamed
responses (#6501). The emulator runs the real function code the way Lambda does instead:

- server.py: the HTTP server (the page, ``/config.json``, ``/api/*``) and ``Emulator``, which starts it;
- environments.py: execution environments, a Python process each, one invocation at a time;
- worker.py: what runs inside an environment; web_adapter.py: the Lambda Web Adapter's part for streaming;
- runtime.py: Lambda's shapes (the context, Function URL events and results), shared with tests and bench;
- template.py: what the emulator reads from template.yaml; model.py: the key, or the offline demo;
- aws.py: moto's server, for programs only: Secrets Manager holding the key as the deployed functions hold
  theirs, DynamoDB for the budgets, Cognito for sign-in;
- budget_table.py: the daily budgets' table in moto, shaped like the stack's;
- signin.py: a user pool in moto's Cognito and a stand-in for its managed login; token_signing.py: the key
  its tokens are signed with, made for each run (moto's own ships with moto);
- extensions_api.py: Lambda's Extensions API inside an environment, for the work after a response;
- guard.py: what keeps a browser page on another site away from /api/ and moto (Origin, Host);
- errors.py: ConfigError, the one line a person sees when the emulator cannot start;
- __main__.py: the command line.

Tests and the browser suite use it as a context manager::

    with Emulator(fake=FakeOpenAI()) as emulator:
        urllib.request.urlopen(emulator.url + "/api/summarize", data=...)
        emulator.events[-1]          # the Function URL event the handler received
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from infra.emulator.server import DEMO_HEADER, Emulator

__all__ = ["DEMO_HEADER", "Emulator"]


def __getattr__(name: str) -> Any:
    # Loaded on first use: every execution environment imports this package (for its worker module), and its
    # cold start must not pay for the server's imports.
    if name in __all__:
        from infra.emulator import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
