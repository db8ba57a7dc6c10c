"""AWS for the functions, with no account: moto's server on a loopback port, holding the OpenAI key's secret,
the budgets' table and, with sign-in, the user pool."""

from __future__ import annotations

import secrets
import threading
from typing import Any, Literal

import boto3

from infra.emulator.guard import LOOPBACK_NAMES, split_host
from infra.emulator.runtime import REGION

SECRET_ID = "local/openai-api-key"  # noqa: S105 - a name, not a secret
BUDGET_TABLE = "local-budgets"
# What every DynamoDB call's X-Amz-Target starts with (the API's version, unchanged since 2012).
DYNAMODB_TARGET_PREFIX = "DynamoDB_20120810."
# Made for each run, never a real account's: moto checks no signature, so its server (below) admits only
# calls signed with this access key id, which this process hands to the functions it starts. Another user of
# the machine, who can reach the port but not read those processes' environments, cannot read the key.
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": f"LOCAL{secrets.token_hex(8).upper()}",
    "AWS_SECRET_ACCESS_KEY": secrets.token_urlsafe(30),
}
FOR_PROGRAMS_ONLY = b"moto here serves the functions' AWS calls only, not browsers.\n"
FOR_THIS_RUN_ONLY = (
    b"moto here serves only the AWS calls of this run's functions and sign-in, signed with its credentials.\n"
)


# The one user pool operation the sign-in stand-in calls that boto3 sends unsigned, as AWS serves it: a person's
# password or refresh token is its credential. moto serves the others AWS serves unsigned (SignUp,
# ConfirmSignUp, ConfirmForgotPassword, ...) without checking what Cognito checks, such as a confirmation code,
# so they would let any process on the machine make a user, or take over the local one, and spend the key.
STAND_IN_UNSIGNED = frozenset({"AWSCognitoIdentityProviderService.InitiateAuth"})


def _is_public(environ: dict[str, Any], unsigned: frozenset[str]) -> bool:
    """One of the ``unsigned`` operations exactly as boto3 sends it: a POST to / naming it in X-Amz-Target,
    with no query (moto would take ?Action= before the target) and no Authorization. (moto's JWKS is not
    served: its key ships with moto, so the functions trust the sign-in stand-in's instead.)"""
    bare = environ.get("PATH_INFO") == "/" and not environ.get("QUERY_STRING") and "HTTP_AUTHORIZATION" not in environ
    return environ.get("REQUEST_METHOD") == "POST" and bare and environ.get("HTTP_X_AMZ_TARGET") in unsigned


def for_programs_only(app: Any, own_names: frozenset[str], unsigned: frozenset[str] = frozenset()) -> Any:
    """The WSGI ``app``, refusing what a browser sends: any request with an ``Origin`` (browsers send one on
    every cross-site call and every POST, and moto would grant any origin CORS), and any ``Host`` that is not
    one of ``own_names`` (a DNS-rebinding page names its own domain). boto3 sends neither. Of the rest, only
    calls signed with this run's CREDENTIALS are served, and the operations named in ``unsigned`` (X-Amz-Target)."""
    credential = f"Credential={CREDENTIALS['AWS_ACCESS_KEY_ID']}/"

    def refuse(start_response: Any, body: bytes) -> list[bytes]:
        start_response("403 Forbidden", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]

    def guarded(environ: dict[str, Any], start_response: Any) -> Any:
        address = split_host(str(environ.get("HTTP_HOST", "")))
        if "HTTP_ORIGIN" in environ or address is None or address[0] not in own_names:
            return refuse(start_response, FOR_PROGRAMS_ONLY)
        signed = credential in str(environ.get("HTTP_AUTHORIZATION", ""))
        if not (signed or _is_public(environ, unsigned)):
            return refuse(start_response, FOR_THIS_RUN_ONLY)
        return app(environ, start_response)

    return guarded


def dynamodb_directly(dynamodb: Any, dispatcher: Any) -> Any:
    """DynamoDB's calls straight to moto's DynamoDB app, one at a time, every other call to moto's dispatcher.
    The dispatcher finds a request's service by matching it against every backend, which costs a budget check's
    two UpdateItems about a millisecond; DynamoDB's calls name their service in X-Amz-Target. One at a time,
    because DynamoDB applies each write atomically and moto does not: it reads an item and writes it back
    unlocked, so two budget updates at once could lose one, and a cap could be passed."""
    one_at_a_time = threading.Lock()

    def route(environ: dict[str, Any], start_response: Any) -> Any:
        if str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith(DYNAMODB_TARGET_PREFIX):
            with one_at_a_time:
                return dynamodb(environ, start_response)
        return dispatcher(environ, start_response)

    return route


class MotoServer:
    """moto's Secrets Manager (and every other moto service) on ``host:port``, in threads of this process.
    It holds the OpenAI key, so it answers programs only (for_programs_only).

    Served by cheroot rather than moto's own werkzeug server, which closes the connection after every
    response: each budget check would pay a new connection and a new thread, where a function on Lambda
    reuses its SDK's connection to DynamoDB. The port is bound in the caller, so a taken one is an
    immediate OSError.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        # Imported here: moto's server takes half a second to import, and only the emulator's start needs it.
        from cheroot.wsgi import Server
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        routed = dynamodb_directly(create_backend_app("dynamodb"), DomainDispatcherApplication(create_backend_app))
        self._server = Server(
            (host, port),
            for_programs_only(routed, LOOPBACK_NAMES | {host}, unsigned=STAND_IN_UNSIGNED),
            numthreads=8,
            # As many waiting connections as werkzeug's server allowed; a stop waits at most this long for a
            # request that is half sent.
            request_queue_size=128,
            shutdown_timeout=1,
        )
        self._server.prepare()
        self._thread = threading.Thread(target=self._server.serve, name="moto-server", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.bind_addr[:2]
        return f"http://{host}:{port}"

    def start(self) -> MotoServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.stop()
        self._thread.join()


def moto_client(service: Literal["secretsmanager", "dynamodb"], endpoint_url: str, region: str = REGION) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def seed_secret(endpoint_url: str, secret_id: str, value: str, region: str = REGION) -> None:
    """Create the secret, or give it a new value if an earlier run in this process created it."""
    client = moto_client("secretsmanager", endpoint_url, region)
    try:
        client.create_secret(Name=secret_id, SecretString=value)
    except client.exceptions.ResourceExistsException:
        client.put_secret_value(SecretId=secret_id, SecretString=value)


def create_local_budget_table(endpoint_url: str) -> None:
    """The daily token budgets' table, as the stack creates it (the template's caps apply locally too)."""
    # Imported here: its key names come from the functions' budget module, which `python -m infra.emulator`
    # can import only once it has put functions/ on the path.
    from infra.emulator.budget_table import create_budget_table

    create_budget_table(moto_client("dynamodb", endpoint_url), BUDGET_TABLE)
