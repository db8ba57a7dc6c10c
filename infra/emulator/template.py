"""What the emulator takes from template.yaml, read with cfn-lint's own decoder (the one `make lint` trusts),
so that local runs match the deployed functions: timeouts, memory, each function's literal environment, and
the security headers CloudFront adds to the page."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cfnlint.decode import decode_str

from infra.emulator.errors import ConfigError

DEFAULT_TIMEOUT_SECONDS = 30
DEFAULT_MEMORY_MB = 128
# Variables that only make sense inside Lambda (the Web Adapter's wiring), or that the emulator sets itself.
NOT_FROM_TEMPLATE = frozenset(
    {
        "OPENAI_SECRET_ID",
        "AWS_LAMBDA_EXEC_WRAPPER",
        "PORT",
        # The stack's sign-in (a Cognito pool, an SSM parameter) does not exist here: the emulator sets
        # ACCESS_MODE itself, with a pool of its own when it signs people in (server.py).
        "ACCESS_MODE",
        "COGNITO_CLIENT_ID_PARAMETER",
        "SAFETY_IDENTIFIER_SALT",
    }
)


@dataclass(frozen=True)
class FunctionSettings:
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    memory_mb: int = DEFAULT_MEMORY_MB
    environment: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TemplateFacts:
    functions: dict[str, FunctionSettings]
    response_headers: list[tuple[str, str]]

    def function(self, logical_id: str) -> FunctionSettings:
        return self.functions.get(logical_id, FunctionSettings())


def load_template(path: Path) -> dict[str, Any]:
    """The template as plain data, short-form intrinsics (``!Ref``) in their long form (``{"Ref": ...}``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ConfigError(f"cannot read {path}: {reason}") from None
    template, problems = decode_str(text)
    if template is None:
        reason = problems[0].message if problems else "not a template"
        raise ConfigError(f"cannot read {path}: {reason}")
    return dict(template)


def read_template(path: Path) -> TemplateFacts:
    """Timeouts, memory, literal environment and CloudFront security headers; defaults when there is no file."""
    if not path.exists():
        return TemplateFacts({}, [])
    template = load_template(path)
    parameters = template.get("Parameters") or {}

    def resolve(value: Any) -> str | None:
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, dict) and set(value) == {"Ref"} and "Default" in (parameters.get(value["Ref"]) or {}):
            return str(parameters[value["Ref"]]["Default"])
        return None  # an intrinsic only CloudFormation can resolve

    globals_ = (template.get("Globals") or {}).get("Function") or {}
    functions = {}
    for logical_id, resource in (template.get("Resources") or {}).items():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::Serverless::Function":
            continue
        properties = resource.get("Properties") or {}
        environment = {}
        for source in (globals_, properties):
            for name, value in ((source.get("Environment") or {}).get("Variables") or {}).items():
                resolved = resolve(value)
                if resolved is not None and name not in NOT_FROM_TEMPLATE and not name.startswith("AWS_LWA_"):
                    environment[name] = resolved
        timeout = resolve(properties.get("Timeout", globals_.get("Timeout"))) or DEFAULT_TIMEOUT_SECONDS
        memory = resolve(properties.get("MemorySize", globals_.get("MemorySize"))) or DEFAULT_MEMORY_MB
        functions[logical_id] = FunctionSettings(float(timeout), int(memory), environment)
    return TemplateFacts(functions, _security_headers(template))


def _local_policy(csp: Any) -> str | None:
    """The CSP as it applies here: its text without the stack's login domain, which the template joins in
    and which the emulator's stand-in serves from its own origin ('self')."""
    if isinstance(csp, dict) and isinstance(csp.get("Fn::Join"), list):
        separator, parts = csp["Fn::Join"]
        return str(separator).join(part for part in parts if isinstance(part, str))
    return csp if isinstance(csp, str) else None


def _security_headers(template: dict[str, Any]) -> list[tuple[str, str]]:
    """The CloudFront response headers policy, so the page meets its strict CSP locally too."""
    for resource in (template.get("Resources") or {}).values():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::CloudFront::ResponseHeadersPolicy":
            continue
        policy = (resource.get("Properties") or {}).get("ResponseHeadersPolicyConfig") or {}
        config = policy.get("SecurityHeadersConfig") or {}
        headers = []
        csp = _local_policy((config.get("ContentSecurityPolicy") or {}).get("ContentSecurityPolicy"))
        if csp is not None:
            headers.append(("content-security-policy", csp))
        if "ContentTypeOptions" in config:
            headers.append(("x-content-type-options", "nosniff"))
        frame = (config.get("FrameOptions") or {}).get("FrameOption")
        if isinstance(frame, str):
            headers.append(("x-frame-options", frame))
        referrer = (config.get("ReferrerPolicy") or {}).get("ReferrerPolicy")
        if isinstance(referrer, str):
            headers.append(("referrer-policy", referrer))
        for custom in (policy.get("CustomHeadersConfig") or {}).get("Items") or []:
            name, value = (custom or {}).get("Header"), (custom or {}).get("Value")
            if isinstance(name, str) and isinstance(value, str):
                headers.append((name.lower(), value))
        return headers
    return []
