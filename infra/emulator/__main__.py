"""python -m infra.emulator [--port 3000] [--host 127.0.0.1] [--env-file .env] [--sign-in]   (what `make dev` runs)"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from infra.emulator.environments import FUNCTIONS_DIR

# The server reads the page's config and the error envelope from the functions' core, as they do.
sys.path.insert(0, str(FUNCTIONS_DIR))

from infra.emulator.aws import SECRET_ID
from infra.emulator.errors import ConfigError
from infra.emulator.guard import LOOPBACK_NAMES
from infra.emulator.model import KEY_SOURCE_NONE, READ_FROM_ENV_FILE
from infra.emulator.server import FUNCTIONS, REPO_ROOT, Emulator
from infra.stop_signals import StopSignals
from llm_core.errors import NotConfigured
from llm_core.settings import DEFAULT_MODEL, PER_USER_CAP_VARIABLE, TOTAL_CAP_VARIABLE, Settings, settings_from
from llm_core.token_estimate import estimate_tokens


def describe_model(emulator: Emulator) -> list[str]:
    model = emulator.model
    assert model is not None
    if model.demo:
        assert emulator.fake is not None
        lines = [f"  OpenAI key: {KEY_SOURCE_NONE} ({emulator.fake.base_url}); responses carry x-llm-demo"]
        if model.base_url:
            lines.append(
                "  OPENAI_BASE_URL is set but OPENAI_API_KEY is not: set a key (any value for a "
                "server that needs none) to use it"
            )
        return lines
    target = model.base_url or "the OpenAI API"
    chosen = emulator.function_environment(FUNCTIONS[0].route).get("OPENAI_MODEL", DEFAULT_MODEL)
    return [f"  OpenAI key: from {model.key_source}; model: {chosen} at {target}"]


def describe_secret(emulator: Emulator) -> str:
    """Where the key the functions read is, by the name their messages use (OPENAI_SECRET_ID), and what it
    holds: a message about that secret is about the key the console names above."""
    model, moto = emulator.model, emulator.moto
    assert model is not None and moto is not None
    holds = "a stand-in key for the demo model" if model.demo else f"OPENAI_API_KEY from {model.key_source}"
    secret = f"secret {SECRET_ID!r} (the functions' OPENAI_SECRET_ID)"
    return f"  Secrets Manager: moto at {moto.url}, {secret}, holding {holds}"


BEYOND_THIS_MACHINE = (
    "  Warning: listening on {host}, so others on the network can reach these endpoints and spend the key; {guard}"
)
UNGUARDED = "nothing asks them to sign in."
GUARDED_BY_SIGN_IN = "only the password above keeps them out, and it travels as plain HTTP."


def describe_access(emulator: Emulator, host: str) -> list[str]:
    sign_in = emulator.sign_in
    local = host in LOOPBACK_NAMES
    if sign_in is None:
        lines = [
            f"  Sign-in: off{', one person on their own machine' if local else ''}: every request is the caller "
            "'local' (make dev SIGN_IN=1 turns it on)"
        ]
    else:
        lines = [
            f"  Sign-in: on, with moto's Cognito (user pool {sign_in.pool.user_pool_id})",
            f"    open {sign_in.site_url} (the sign-in comes back to exactly this address) and choose Sign in:",
            f"    e-mail:   {sign_in.email}",
            f"    password: {sign_in.password}   (a new one each run)",
            f"    or, as a second person (to try the caps two people share): {sign_in.second_email}, same password",
        ]
    if not local:
        guard = UNGUARDED if sign_in is None else GUARDED_BY_SIGN_IN
        lines.append(BEYOND_THIS_MACHINE.format(host=host, guard=guard))
    return lines


# Where a daily cap the console names came from.
CAP_FROM_SHELL = "set in the shell"
CAP_FROM_TEMPLATE = "template.yaml's default"


def describe_budgets(emulator: Emulator) -> list[str]:
    """The daily caps the template sets, which apply locally too (docs/budgets.md), each with where it came
    from; nothing when the settings are invalid (describe_configuration warns about those)."""
    try:
        settings = settings_from(emulator.function_environment(FUNCTIONS[0].route))
    except NotConfigured:
        return []
    # The shell's values win over the template's (function_environment).
    caps = [
        f"{f'{tokens:,} tokens a day' if tokens else 'no cap'} {whose} "
        f"({CAP_FROM_SHELL if variable in os.environ else CAP_FROM_TEMPLATE})"
        for tokens, whose, variable in (
            (settings.daily_tokens_per_user, "per person", PER_USER_CAP_VARIABLE),
            (settings.daily_tokens_total, "in all", TOTAL_CAP_VARIABLE),
        )
    ]
    if not settings.caps_daily_tokens:
        return [f"  Budgets: off, {' and '.join(caps)}: nothing is counted"]
    lines = [f"  Budgets: {' and '.join(caps)}, counted in moto's DynamoDB"]
    # A cap below a function's smallest request refuses every call to it (each function has its own allowance).
    for route in (function.route for function in FUNCTIONS):
        try:
            own = settings_from(emulator.function_environment(route))
        except NotConfigured:
            continue
        smallest = estimate_tokens(1, own.max_output_tokens)
        cap = min((cap for cap in (own.daily_tokens_per_user, own.daily_tokens_total) if cap), default=0)
        if cap and cap < smallest:
            lines.append(
                f"  WARNING /api/{route}: its shortest request may use {smallest:,} tokens, more than a daily cap "
                f"of {cap:,}: every call will be refused until the cap or its MAX_OUTPUT_TOKENS changes."
            )
    return lines


def describe_configuration(emulator: Emulator, env_file: Path) -> list[str]:
    """A warning per function whose settings are invalid: it would answer every call 503 not_configured, and
    the reason would otherwise show only in its log lines; and a note of the functions' settings that .env
    sets, which are read from the shell only."""
    assert emulator.model is not None
    from_the_shell = {name.upper() for name in Settings.model_fields} - emulator.wired
    unread = [name for name in emulator.model.not_read_from_file if name in from_the_shell]
    lines = []
    if unread:
        lines.append(
            f"  Note: {', '.join(unread)} in {env_file.name} {'is' if len(unread) == 1 else 'are'} not read: only "
            f"{', '.join(sorted(READ_FROM_ENV_FILE))} are taken from it; set the others in the shell"
        )
    for route in (function.route for function in FUNCTIONS):
        try:
            settings_from(emulator.function_environment(route))
        except NotConfigured as exc:
            lines.append(f"  WARNING /api/{route}: {exc.message} Every call will answer 503 until it is fixed.")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.emulator", description="The page and the three endpoints on one local server."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=3000, help="default 3000")
    parser.add_argument("--env-file", type=Path, default=Path(".env"), help="where OPENAI_API_KEY is read first")
    parser.add_argument("--static", type=Path, default=REPO_ROOT / "static", help="the page's directory")
    parser.add_argument("--log-level", default="info", help="uvicorn's log level (default info)")
    parser.add_argument(
        "--sign-in",
        action="store_true",
        help="sign in as on a deployed stack: moto's Cognito, a local user, a stand-in for the login page",
    )
    args = parser.parse_args(argv)

    # Before anything starts, so a Ctrl-C at any moment ends in a clean stop rather than a traceback.
    with StopSignals() as stop:
        return serve(args, stop)


def serve(args: argparse.Namespace, stop: StopSignals) -> int:
    """Start the emulator, say what it serves, and serve until ``stop`` has come; the exit status."""
    emulator = Emulator(
        args.host,
        args.port,
        static_dir=args.static,
        env_file=args.env_file,
        log_level=args.log_level,
        wait_until_warm=False,
        sign_in=args.sign_in,
    )
    try:
        emulator.start()
    except ConfigError as exc:
        print(f"emulator: {exc}", file=sys.stderr)
        return 1
    try:
        paths = ", ".join(function.path for function in FUNCTIONS)
        print(f"Serving the page and {paths} on {emulator.url}", flush=True)
        for line in describe_model(emulator):
            print(line, flush=True)
        print(describe_secret(emulator), flush=True)
        for line in describe_access(emulator, args.host):
            print(line, flush=True)
        for line in describe_budgets(emulator):
            print(line, flush=True)
        for line in describe_configuration(emulator, args.env_file):
            print(line, flush=True)
        print("  Ctrl-C stops.", flush=True)
        stop.wait()
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
