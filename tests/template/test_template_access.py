"""template.yaml, who may call: the Cognito pool, app client and login domain, /api/* per AccessMode, the
token header through CloudFront, and the settings the functions get."""

from __future__ import annotations

import copy
import fnmatch
import re
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode

from infra.emulator.server import NOT_FOUND_MESSAGE, is_api_path
from infra.emulator.signin import PASSWORD_POLICY
from llm_core import identity
from tests.template.cfn_values import content_security_policy, evaluate, stack

TEMPLATE_PATH = Path(__file__).resolve().parents[2] / "template.yaml"
FUNCTIONS = ["SummarizeFunction", "TodoFunction", "StreamFunction"]
ENDPOINT_PATHS = ["/api/summarize", "/api/todo", "/api/stream"]
SITE_URL = {"Fn::Sub": "https://${Distribution.DomainName}/"}
STACK_GUID_PREFIX = {
    "Fn::Select": [0, {"Fn::Split": ["-", {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}]}]
}
CLIENT_ID_PARAMETER = {"Fn::Sub": "/${AWS::StackName}/cognito-client-id"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    data, errors = decode(str(TEMPLATE_PATH))
    assert not errors, errors
    return data


def props(template: dict[str, Any], name: str) -> dict[str, Any]:
    return template["Resources"][name]["Properties"]


def condition_of(template: dict[str, Any], name: str) -> str | None:
    return template["Resources"][name].get("Condition")


def behaviours(template: dict[str, Any]) -> list[dict[str, Any]]:
    return props(template, "Distribution")["DistributionConfig"]["CacheBehaviors"]


# ------------------------------------------------------------------ parameters


def test_sign_in_addresses_are_not_case_sensitive(template: dict[str, Any]) -> None:
    # Otherwise Ana@Example.com and ana@example.com would be two accounts, each with a day's budget.
    assert props(template, "UserPool")["UsernameConfiguration"] == {"CaseSensitive": False}


def test_access_mode_defaults_to_cognito(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["AccessMode"]
    assert parameter["Default"] == "cognito"
    assert parameter["AllowedValues"] == ["cognito", "iam", "public"]


def test_self_sign_up_is_off_by_default(template: dict[str, Any]) -> None:
    assert template["Parameters"]["SelfSignUp"]["Default"] == "false"
    admin_only = props(template, "UserPool")["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"]
    assert admin_only == {"Fn::If": ["SelfSignUpOn", False, True]}


@pytest.mark.parametrize("domain", ["example.com", "mail.example.co.uk", ""])
def test_allowed_email_domain_accepts_a_domain_or_nothing(template: dict[str, Any], domain: str) -> None:
    assert re.fullmatch(template["Parameters"]["AllowedEmailDomain"]["AllowedPattern"], domain)


@pytest.mark.parametrize("domain", ["@example.com", "Example.com", "example", "a b.com"])
def test_allowed_email_domain_refuses_what_is_not_a_domain(template: dict[str, Any], domain: str) -> None:
    assert not re.fullmatch(template["Parameters"]["AllowedEmailDomain"]["AllowedPattern"], domain)


# ------------------------------------------------------------------ Cognito


@pytest.mark.parametrize(
    "name", ["UserPool", "UserPoolClient", "UserPoolDomain", "ManagedLoginBranding", "ClientIdParameter"]
)
def test_sign_in_resources_exist_only_in_cognito_mode(template: dict[str, Any], name: str) -> None:
    assert condition_of(template, name) == "CognitoMode"


def test_pool_signs_in_by_email(template: dict[str, Any]) -> None:
    pool = props(template, "UserPool")
    assert pool["UsernameAttributes"] == ["email"]
    assert pool["AutoVerifiedAttributes"] == ["email"]


def test_app_client_is_public_with_the_code_flow(template: dict[str, Any]) -> None:
    client = props(template, "UserPoolClient")
    assert client["GenerateSecret"] is False
    assert client["AllowedOAuthFlowsUserPoolClient"] is True
    assert client["AllowedOAuthFlows"] == ["code"]
    assert client["AllowedOAuthScopes"] == ["openid", "email"]
    assert client["SupportedIdentityProviders"] == ["COGNITO"]


def test_app_client_returns_to_the_site_url(template: dict[str, Any]) -> None:
    client = props(template, "UserPoolClient")
    assert client["CallbackURLs"] == [SITE_URL]
    assert client["LogoutURLs"] == [SITE_URL]
    assert template["Outputs"]["SiteUrl"]["Value"] == SITE_URL


def test_access_token_lives_an_hour_and_a_sign_in_a_working_day(template: dict[str, Any]) -> None:
    client = props(template, "UserPoolClient")
    assert (client["AccessTokenValidity"], client["TokenValidityUnits"]["AccessToken"]) == (60, "minutes")
    assert (client["RefreshTokenValidity"], client["TokenValidityUnits"]["RefreshToken"]) == (12, "hours")
    assert client["EnableTokenRevocation"] is True


def test_login_domain_uses_managed_login_with_a_branding_style(template: dict[str, Any]) -> None:
    assert props(template, "UserPoolDomain")["ManagedLoginVersion"] == 2
    branding = props(template, "ManagedLoginBranding")
    assert branding["ClientId"] == {"Ref": "UserPoolClient"}
    assert branding["UseCognitoProvidedValues"] is True


def test_login_domain_output_is_the_domain_the_stack_creates(template: dict[str, Any]) -> None:
    prefix = props(template, "UserPoolDomain")["Domain"]
    assert prefix == {"Fn::Join": ["-", ["login", STACK_GUID_PREFIX]]}
    parts = template["Outputs"]["LoginDomain"]["Value"]["Fn::Join"][1]
    assert parts == ["https://login-", STACK_GUID_PREFIX, {"Fn::Sub": ".auth.${AWS::Region}.amazoncognito.com"}]


def connect_src(template: dict[str, Any], access_mode: str) -> str:
    policy = content_security_policy(template, access_mode, stack())
    (directive,) = [part.strip() for part in policy.split(";") if part.strip().startswith("connect-src")]
    return directive


def test_page_may_call_this_stacks_login_domain_and_no_other(template: dict[str, Any]) -> None:
    login_domain = evaluate(template, template["Outputs"]["LoginDomain"]["Value"], {}, stack())
    assert login_domain == "https://login-1a2b3c4d.auth.eu-west-1.amazoncognito.com"
    assert connect_src(template, "cognito") == f"connect-src 'self' {login_domain}"


@pytest.mark.parametrize("access_mode", ["iam", "public"])
def test_page_may_call_no_cognito_domain_without_sign_in(template: dict[str, Any], access_mode: str) -> None:
    assert connect_src(template, access_mode) == "connect-src 'self'"


@pytest.mark.parametrize("name", ["UserPoolId", "UserPoolClientId", "LoginDomain", "InviteCommand"])
def test_sign_in_outputs_exist_in_cognito_mode(template: dict[str, Any], name: str) -> None:
    assert template["Outputs"][name]["Condition"] == "CognitoMode"


def test_outputs_carry_what_the_page_config_needs(template: dict[str, Any]) -> None:
    assert template["Outputs"]["AccessMode"]["Value"] == {"Ref": "AccessMode"}
    assert template["Outputs"]["MaxInputChars"]["Value"] == {"Ref": "MaxInputChars"}


# ------------------------------------------------------------------ e-mail domain check


@pytest.fixture
def sign_up_check(template: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    """The inline pre-sign-up function's handler, run here as Lambda would run it."""
    monkeypatch.setenv("ALLOWED_EMAIL_DOMAIN", "example.com")
    namespace: dict[str, Any] = {}
    exec(props(template, "SignUpDomainCheckFunction")["Code"]["ZipFile"], namespace)
    return namespace["handler"]


def sign_up_event(trigger: str, email: str) -> dict[str, Any]:
    return {"triggerSource": trigger, "request": {"userAttributes": {"email": email}}, "response": {}}


def test_sign_up_at_the_allowed_domain_passes(sign_up_check: Any) -> None:
    event = sign_up_event("PreSignUp_SignUp", "ada@Example.com")
    assert sign_up_check(event, None) is event


def test_sign_up_at_another_domain_is_refused_with_the_allowed_one(sign_up_check: Any) -> None:
    with pytest.raises(ValueError, match=re.escape("Sign-up is open to @example.com addresses only.")):
        sign_up_check(sign_up_event("PreSignUp_SignUp", "eve@example.com.evil.test"), None)


def test_owner_invitations_are_not_checked(sign_up_check: Any) -> None:
    event = sign_up_event("PreSignUp_AdminCreateUser", "guest@elsewhere.test")
    assert sign_up_check(event, None) is event


def test_domain_check_runs_only_when_self_sign_up_is_restricted(template: dict[str, Any]) -> None:
    for name in ("SignUpDomainCheckFunction", "SignUpDomainCheckRole", "SignUpDomainCheckPermission"):
        assert condition_of(template, name) == "RestrictSignUpDomain"
    lambda_config = props(template, "UserPool")["LambdaConfig"]["Fn::If"]
    assert lambda_config[:2] == [
        "RestrictSignUpDomain",
        {"PreSignUp": {"Fn::GetAtt": ["SignUpDomainCheckFunction", "Arn"]}},
    ]
    assert props(template, "SignUpDomainCheckPermission")["SourceArn"] == {"Fn::GetAtt": ["UserPool", "Arn"]}


# ------------------------------------------------------------------ /api/* per mode


def test_iam_mode_closes_every_endpoint_behaviour_at_the_edge(template: dict[str, Any]) -> None:
    closed = {"EventType": "viewer-request", "FunctionARN": {"Fn::GetAtt": ["ApiClosedFunction", "FunctionARN"]}}
    endpoints = [behaviour for behaviour in behaviours(template) if behaviour["PathPattern"] in ENDPOINT_PATHS]
    assert len(endpoints) == len(ENDPOINT_PATHS)
    for behaviour in endpoints:
        assert behaviour["FunctionAssociations"] == {"Fn::If": ["IamMode", [closed], {"Ref": "AWS::NoValue"}]}
    assert condition_of(template, "ApiClosedFunction") == "IamMode"


def test_any_other_api_path_is_answered_at_the_edge_after_the_endpoints(template: dict[str, Any]) -> None:
    patterns = [behaviour["PathPattern"] for behaviour in behaviours(template)]
    # CloudFront takes the first pattern that matches, so the catch-all must come after every endpoint.
    assert patterns[-1] == "/api*" and set(patterns[:-1]) == set(ENDPOINT_PATHS)
    assert behaviours(template)[-1]["FunctionAssociations"] == [
        {"EventType": "viewer-request", "FunctionARN": {"Fn::GetAtt": ["ApiNotFoundFunction", "FunctionARN"]}}
    ]


@pytest.mark.parametrize("path", ["/api", "/api/", "/api/summarize", "/api/nothing/here", "/apis", "/", "/index.html"])
def test_the_emulator_takes_the_api_paths_cloudfront_sends_to_the_api(template: dict[str, Any], path: str) -> None:
    # CloudFront's "*" matches any characters, "/" included; a path no API pattern takes goes to the bucket.
    to_the_api = any(fnmatch.fnmatchcase(path, behaviour["PathPattern"]) for behaviour in behaviours(template))
    assert is_api_path(path) == to_the_api


@pytest.mark.parametrize(
    ("function", "status", "kind", "message"),
    [
        # Any other /api/* path: the emulator's own 404.
        ("ApiNotFoundFunction", 404, "not_found", NOT_FOUND_MESSAGE),
        # AccessMode iam: the endpoints are closed, with the functions' own words.
        ("ApiClosedFunction", 403, "forbidden", identity.IAM_ONLY),
    ],
)
def test_edge_answers_are_the_functions_error_envelope(
    template: dict[str, Any], function: str, status: int, kind: str, message: str
) -> None:
    code = props(template, function)["FunctionCode"]
    assert f"statusCode: {status}" in code
    assert f'type: "{kind}"' in code
    assert "request_id: id" in code
    assert f'"{message}"' in code


def origin_request_headers(template: dict[str, Any]) -> tuple[set[str], set[str]]:
    condition, public, other = props(template, "ApiOriginRequestPolicy")["OriginRequestPolicyConfig"]["HeadersConfig"][
        "Headers"
    ]["Fn::If"]
    assert condition == "PublicMode"
    return {h.lower() for h in public}, {h.lower() for h in other}


def test_token_header_reaches_the_functions_in_every_mode(template: dict[str, Any]) -> None:
    for names in origin_request_headers(template):
        assert identity.TOKEN_HEADER in names


def test_viewer_address_reaches_the_functions_in_public_mode_only(template: dict[str, Any]) -> None:
    public, other = origin_request_headers(template)
    assert identity.VIEWER_ADDRESS_HEADER in public
    assert identity.VIEWER_ADDRESS_HEADER not in other


def test_lambda_oac_always_signs_so_the_token_needs_its_own_header(template: dict[str, Any]) -> None:
    config = props(template, "FunctionUrlOriginAccessControl")["OriginAccessControlConfig"]
    assert config["SigningBehavior"] == "always"
    assert identity.TOKEN_HEADER != "authorization"


# ------------------------------------------------------------------ what the functions get


def test_functions_get_the_access_settings(template: dict[str, Any]) -> None:
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert env["ACCESS_MODE"] == {"Ref": "AccessMode"}
    assert env["COGNITO_USER_POOL_ID"] == {"Fn::If": ["CognitoMode", {"Ref": "UserPool"}, {"Ref": "AWS::NoValue"}]}
    assert env["COGNITO_CLIENT_ID_PARAMETER"] == {
        "Fn::If": ["CognitoMode", CLIENT_ID_PARAMETER, {"Ref": "AWS::NoValue"}]
    }
    assert env["SAFETY_IDENTIFIER_SALT"] == {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}


def test_client_id_parameter_is_the_one_the_functions_read(template: dict[str, Any]) -> None:
    parameter = props(template, "ClientIdParameter")
    assert parameter["Name"] == CLIENT_ID_PARAMETER
    assert parameter["Value"] == {"Ref": "UserPoolClient"}


def test_client_id_policy_reads_only_that_parameter(template: dict[str, Any]) -> None:
    (statement,) = props(template, "ClientIdReadPolicy")["PolicyDocument"]["Statement"]
    assert statement["Action"] == "ssm:GetParameter"
    arn = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/${AWS::StackName}/cognito-client-id"
    assert statement["Resource"] == {"Fn::Sub": arn}


# ------------------------------------------------------------------ dependency cycles


def _references(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                found.add(value[0] if isinstance(value, list) else value.split(".")[0])
            elif key == "Fn::Sub":
                text = value if isinstance(value, str) else value[0]
                found.update(re.findall(r"\$\{([A-Za-z0-9]+)", text))
            found |= _references(value)
    elif isinstance(node, list):
        for value in node:
            found |= _references(value)
    return found


def find_cycle(template: dict[str, Any]) -> list[str] | None:
    """A dependency cycle as CloudFormation will see it once SAM has added each function's URL (which
    depends on its function) and merged the Globals into every function; None if there is none."""
    resources = template["Resources"]
    globals_ = template.get("Globals", {}).get("Function", {})
    edges: dict[str, set[str]] = {}
    for name, resource in resources.items():
        depends_on = resource.get("DependsOn", [])
        targets = _references(resource.get("Properties", {})) | set(
            [depends_on] if isinstance(depends_on, str) else depends_on
        )
        if resource["Type"] == "AWS::Serverless::Function":
            targets |= _references(globals_)
            if "FunctionUrlConfig" in resource.get("Properties", {}):
                edges[f"{name}Url"] = {name}
        edges[name] = targets
    edges = {name: {t for t in targets if t in edges} for name, targets in edges.items()}

    def visit(name: str, path: list[str]) -> list[str] | None:
        if name in path:
            return [*path[path.index(name) :], name]
        for target in sorted(edges[name]):
            cycle = visit(target, [*path, name])
            if cycle:
                return cycle
        return None

    for start in sorted(edges):
        cycle = visit(start, [])
        if cycle:
            return cycle
    return None


def test_template_has_no_dependency_cycle(template: dict[str, Any]) -> None:
    assert find_cycle(template) is None


def test_client_id_in_the_functions_environment_would_be_a_cycle(template: dict[str, Any]) -> None:
    """Why the functions read the client id from SSM: client -> site URL -> distribution -> function URL ->
    function -> client."""
    changed = copy.deepcopy(template)
    changed["Globals"]["Function"]["Environment"]["Variables"]["COGNITO_CLIENT_ID"] = {"Ref": "UserPoolClient"}
    cycle = find_cycle(changed)
    assert cycle is not None
    assert {"UserPoolClient", "Distribution"} <= set(cycle)


def test_the_local_sign_in_asks_for_the_same_passwords_as_the_user_pool(template: dict[str, Any]) -> None:
    deployed = props(template, "UserPool")["Policies"]["PasswordPolicy"]
    assert {name: deployed[name] for name in PASSWORD_POLICY} == PASSWORD_POLICY
