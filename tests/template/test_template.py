"""template.yaml: lint, handlers that resolve, least privilege, and the CloudFront front door."""

from __future__ import annotations

import importlib
import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import pytest
from cfnlint.api import lint_file
from cfnlint.decode import decode
from openai.types.shared import ReasoningEffort

from llm_core.budget import DEPLOYMENT_TOKENS_METRIC, KEY_ATTRIBUTE, TTL_ATTRIBUTE
from llm_core.settings import Settings
from tests.template.cfn_values import NO_VALUE, deployed, evaluate

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"
FUNCTIONS_DIR = ROOT / "functions"
LAYER_DIR = ROOT / "infra" / "layer"

FUNCTIONS = {"summarize": "SummarizeFunction", "todo": "TodoFunction", "stream": "StreamFunction"}
BUFFERED = ["SummarizeFunction", "TodoFunction"]
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
DISTRIBUTION_ARN = {"Fn::Sub": "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${Distribution}"}
SECRET_ARN = {"Fn::If": ["CreateSecret", {"Ref": "OpenAISecret"}, {"Ref": "ExistingSecretArn"}]}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    # cfnlint's loader understands the short intrinsic tags (!Ref, !Sub, ...).
    data, errors = decode(str(TEMPLATE_PATH))
    assert not errors, errors
    return data


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def props(template: dict[str, Any], name: str) -> dict[str, Any]:
    return template["Resources"][name]["Properties"]


def function_env(template: dict[str, Any], name: str) -> dict[str, Any]:
    merged = dict(template["Globals"]["Function"]["Environment"]["Variables"])
    merged.update(props(template, name).get("Environment", {}).get("Variables", {}))
    return merged


def distribution(template: dict[str, Any]) -> dict[str, Any]:
    return props(template, "Distribution")["DistributionConfig"]


def behaviour(template: dict[str, Any], path: str) -> dict[str, Any]:
    (found,) = [b for b in distribution(template)["CacheBehaviors"] if b["PathPattern"] == path]
    return found


def origin(template: dict[str, Any], origin_id: str) -> dict[str, Any]:
    (found,) = [o for o in distribution(template)["Origins"] if o["Id"] == origin_id]
    return found


def walk_statements(node: Any) -> Iterator[dict[str, Any]]:
    """Every IAM statement anywhere under node (inline policies, managed policy documents)."""
    if isinstance(node, dict):
        if "Effect" in node and ("Action" in node or "NotAction" in node):
            yield node
        for value in node.values():
            yield from walk_statements(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk_statements(value)


# ------------------------------------------------------------------ lint


def test_cfn_lint_reports_nothing() -> None:
    matches = lint_file(TEMPLATE_PATH)
    assert [str(m) for m in matches] == []


# ------------------------------------------------------------------ handlers resolve


def lambda_environment(template: dict[str, Any], name: str) -> dict[str, str]:
    """The function's variables as deployed with the parameter defaults; other intrinsics (the secret
    ARN) become a realistic literal."""
    parameters = template["Parameters"]
    env = {}
    for key, value in function_env(template, name).items():
        if isinstance(value, dict) and value.get("Ref") in parameters:
            value = str(parameters[value["Ref"]]["Default"])
        env[key] = value if isinstance(value, str) else "arn:aws:secretsmanager:us-east-1:123456789012:secret:k-AbCdEf"
    return env


@pytest.fixture
def import_as_lambda(template: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Import handler modules the way Lambda does: functions/ on sys.path, the template's environment."""

    def load(name: str, module_name: str) -> Any:
        for key, value in lambda_environment(template, name).items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("AWS_DEFAULT_REGION", os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
        return importlib.import_module(module_name)

    monkeypatch.syspath_prepend(str(FUNCTIONS_DIR))
    already_loaded = set(sys.modules)
    yield load
    # Forget only what this test imported, so the next one imports under its own environment
    # while modules other tests hold on to stay the same objects.
    for module in set(sys.modules) - already_loaded:
        if module.split(".")[0] in ("handlers", "llm_core"):
            del sys.modules[module]


@pytest.mark.parametrize("name", BUFFERED)
def test_handler_resolves_to_a_callable(template: dict[str, Any], name: str, import_as_lambda: Any) -> None:
    module_name, _, attribute = props(template, name)["Handler"].rpartition(".")
    assert (FUNCTIONS_DIR / Path(*module_name.split("."))).with_suffix(".py").is_file()
    handler = getattr(import_as_lambda(name, module_name), attribute)
    assert callable(handler)


def test_stream_start_script_is_executable(template: dict[str, Any]) -> None:
    script = FUNCTIONS_DIR / props(template, "StreamFunction")["Handler"]
    assert script.is_file()
    assert os.access(script, os.X_OK)


def test_stream_start_script_names_an_existing_asgi_app(template: dict[str, Any], import_as_lambda: Any) -> None:
    script = (FUNCTIONS_DIR / props(template, "StreamFunction")["Handler"]).read_text()
    match = re.search(r"\b(handlers\.[\w.]+):(\w+)\b", script)
    assert match, "run_stream.sh must start uvicorn with handlers.<module>:<app>"
    app = getattr(import_as_lambda("StreamFunction", match.group(1)), match.group(2))
    assert callable(app)


# ------------------------------------------------------------------ functions


def test_globals_target_python_313_on_one_code_uri(template: dict[str, Any]) -> None:
    globals_ = template["Globals"]["Function"]
    assert (globals_["Runtime"], globals_["CodeUri"]) == ("python3.13", "functions/")
    assert all("CodeUri" not in props(template, name) for name in FUNCTIONS.values())


def test_architecture_defaults_to_arm64(template: dict[str, Any]) -> None:
    assert template["Parameters"]["Architecture"]["Default"] == "arm64"
    assert template["Globals"]["Function"]["Architectures"] == [{"Ref": "Architecture"}]


def test_logs_are_json_and_tracing_is_active(template: dict[str, Any]) -> None:
    globals_ = template["Globals"]["Function"]
    assert globals_["LoggingConfig"]["LogFormat"] == "JSON"
    assert globals_["Tracing"] == "Active"


@pytest.mark.parametrize("name", list(FUNCTIONS.values()))
def test_function_reads_the_secret_by_arn(template: dict[str, Any], name: str) -> None:
    assert function_env(template, name)["OPENAI_SECRET_ID"] == SECRET_ARN


@pytest.mark.parametrize(("service", "name"), list(FUNCTIONS.items()))
def test_function_names_its_service(template: dict[str, Any], service: str, name: str) -> None:
    assert function_env(template, name)["POWERTOOLS_SERVICE_NAME"] == service


@pytest.mark.parametrize("name", BUFFERED)
def test_buffered_function_url_is_iam_and_buffered(template: dict[str, Any], name: str) -> None:
    assert props(template, name)["FunctionUrlConfig"] == {"AuthType": "AWS_IAM", "InvokeMode": "BUFFERED"}


def test_stream_function_url_is_iam_and_streaming(template: dict[str, Any]) -> None:
    config = props(template, "StreamFunction")["FunctionUrlConfig"]
    assert config == {"AuthType": "AWS_IAM", "InvokeMode": "RESPONSE_STREAM"}


def test_stream_runs_behind_the_web_adapter(template: dict[str, Any]) -> None:
    env = function_env(template, "StreamFunction")
    assert env["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/bootstrap"
    assert env["AWS_LWA_INVOKE_MODE"] == "response_stream"
    assert env["PORT"] == "8000"
    assert env["AWS_LWA_READINESS_CHECK_PATH"] == "/healthz"


def test_stream_timeout_setting_matches_function_timeout(template: dict[str, Any]) -> None:
    env = function_env(template, "StreamFunction")
    assert int(env["STREAM_TIMEOUT_SECONDS"]) == props(template, "StreamFunction")["Timeout"]


def test_web_adapter_layer_follows_the_architecture(template: dict[str, Any]) -> None:
    (layer,) = props(template, "StreamFunction")["Layers"]
    condition, arm, x86 = layer["Fn::If"]
    assert template["Conditions"][condition] == {"Fn::Equals": [{"Ref": "Architecture"}, "arm64"]}
    assert re.fullmatch(
        r"arn:aws:lambda:\$\{AWS::Region\}:753240598075:layer:LambdaAdapterLayerArm64:\d+", arm["Fn::Sub"]
    )
    assert re.fullmatch(
        r"arn:aws:lambda:\$\{AWS::Region\}:753240598075:layer:LambdaAdapterLayerX86:\d+", x86["Fn::Sub"]
    )


def test_dependencies_layer_is_built_by_its_makefile(template: dict[str, Any]) -> None:
    layer = template["Resources"]["DependenciesLayer"]
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert layer["Properties"]["ContentUri"] == "infra/layer/"
    assert "build-DependenciesLayer:" in (LAYER_DIR / "Makefile").read_text()


def test_dependencies_layer_leaves_boto3_to_the_runtime() -> None:
    lines = (LAYER_DIR / "requirements.txt").read_text().splitlines()
    names = {re.split(r"[\[=<>~!; ]", line.strip())[0].lower() for line in lines if line.strip()[:1].isalpha()}
    assert {"openai", "aws-lambda-powertools", "pydantic", "starlette", "uvicorn"} <= names
    assert not names & {"boto3", "botocore"}


def test_functions_have_no_requirements_file() -> None:
    # A requirements.txt there would make `sam build` look for a local Python 3.13.
    assert not (FUNCTIONS_DIR / "requirements.txt").exists()


# ------------------------------------------------------------------ least privilege


def test_secret_policy_names_exactly_the_one_secret(template: dict[str, Any]) -> None:
    statements = props(template, "SecretReadPolicy")["PolicyDocument"]["Statement"]
    assert statements == [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": SECRET_ARN}]


def test_stack_secret_is_created_without_a_value(template: dict[str, Any]) -> None:
    secret = props(template, "OpenAISecret")
    assert "SecretString" not in secret
    assert "GenerateSecretString" not in secret


@pytest.mark.parametrize("name", list(FUNCTIONS.values()))
def test_function_policies_are_the_secret_and_budget_policies_and_in_cognito_mode_the_client_id(
    template: dict[str, Any], name: str
) -> None:
    assert props(template, name)["Policies"] == [
        {"Ref": "SecretReadPolicy"},
        {"Ref": "BudgetTablePolicy"},
        {"Fn::If": ["CognitoMode", {"Ref": "ClientIdReadPolicy"}, {"Ref": "AWS::NoValue"}]},
    ]


def test_no_policy_grants_resource_star(template: dict[str, Any]) -> None:
    for statement in walk_statements(template["Resources"]):
        if statement["Effect"] == "Allow":
            resources_ = statement.get("Resource", [])
            assert "*" not in (resources_ if isinstance(resources_, list) else [resources_]), statement


# ------------------------------------------------------------------ bucket


def test_bucket_blocks_all_public_access(template: dict[str, Any]) -> None:
    block = props(template, "SiteBucket")["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }


def test_bucket_owner_enforced_and_encrypted(template: dict[str, Any]) -> None:
    bucket = props(template, "SiteBucket")
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]


def test_bucket_policy_lets_only_this_distribution_read(template: dict[str, Any]) -> None:
    statements = props(template, "SiteBucketPolicy")["PolicyDocument"]["Statement"]
    allows = [s for s in statements if s["Effect"] == "Allow"]
    assert allows == [
        {
            "Sid": "AllowThisDistributionOnly",
            "Effect": "Allow",
            "Principal": {"Service": "cloudfront.amazonaws.com"},
            "Action": "s3:GetObject",
            "Resource": {"Fn::Sub": "${SiteBucket.Arn}/*"},
            "Condition": {"StringEquals": {"AWS:SourceArn": DISTRIBUTION_ARN}},
        }
    ]


# ------------------------------------------------------------------ origin access controls


def test_s3_origin_uses_the_s3_oac(template: dict[str, Any]) -> None:
    config = props(template, "SiteOriginAccessControl")["OriginAccessControlConfig"]
    assert (
        config["OriginAccessControlOriginType"],
        config["SigningBehavior"],
        config["SigningProtocol"],
    ) == (
        "s3",
        "always",
        "sigv4",
    )
    assert origin(template, "site")["OriginAccessControlId"] == {"Fn::GetAtt": ["SiteOriginAccessControl", "Id"]}


def test_lambda_oac_always_signs_with_sigv4(template: dict[str, Any]) -> None:
    config = props(template, "FunctionUrlOriginAccessControl")["OriginAccessControlConfig"]
    assert (
        config["OriginAccessControlOriginType"],
        config["SigningBehavior"],
        config["SigningProtocol"],
    ) == (
        "lambda",
        "always",
        "sigv4",
    )


@pytest.mark.parametrize(("origin_id", "name"), list(FUNCTIONS.items()))
def test_function_origin_is_its_url_through_the_lambda_oac(template: dict[str, Any], origin_id: str, name: str) -> None:
    found = origin(template, origin_id)
    assert found["DomainName"] == {
        "Fn::Select": [2, {"Fn::Split": ["/", {"Fn::GetAtt": [f"{name}Url", "FunctionUrl"]}]}]
    }
    assert found["OriginAccessControlId"] == {"Fn::GetAtt": ["FunctionUrlOriginAccessControl", "Id"]}
    assert found["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"


@pytest.mark.parametrize(("origin_id", "name"), list(FUNCTIONS.items()))
def test_origin_read_timeout_outlasts_buffered_functions(template: dict[str, Any], origin_id: str, name: str) -> None:
    read_timeout = origin(template, origin_id)["CustomOriginConfig"]["OriginReadTimeout"]
    timeout = props(template, name).get("Timeout", template["Globals"]["Function"]["Timeout"])
    if name == "StreamFunction":
        # Streamed: the read timeout is the longest silence, and keep-alives come every 15 s.
        assert read_timeout > 2 * int(function_env(template, name)["KEEPALIVE_SECONDS"])
    else:
        assert read_timeout > timeout


# ------------------------------------------------------------------ CloudFront may invoke


@pytest.mark.parametrize("name", list(FUNCTIONS.values()))
def test_cloudfront_gets_exactly_two_permissions_per_function(template: dict[str, Any], name: str) -> None:
    # On the alias, where AutoPublishAlias puts the function URL.
    granted = [
        p["Properties"]
        for p in resources(template, "AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == {"Ref": f"{name}.Alias"}
    ]
    common = {
        "FunctionName": {"Ref": f"{name}.Alias"},
        "Principal": "cloudfront.amazonaws.com",
        "SourceArn": DISTRIBUTION_ARN,
    }
    assert sorted(granted, key=lambda p: p["Action"]) == [
        {**common, "Action": "lambda:InvokeFunction", "InvokedViaFunctionUrl": True},
        {**common, "Action": "lambda:InvokeFunctionUrl", "FunctionUrlAuthType": "AWS_IAM"},
    ]


# ------------------------------------------------------------------ behaviours and policies


def test_default_behaviour_serves_the_bucket(template: dict[str, Any]) -> None:
    config = distribution(template)
    assert config["DefaultRootObject"] == "index.html"
    assert config["DefaultCacheBehavior"]["TargetOriginId"] == "site"
    assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"


@pytest.mark.parametrize("origin_id", list(FUNCTIONS))
def test_api_behaviour_goes_uncached_to_its_function(template: dict[str, Any], origin_id: str) -> None:
    found = behaviour(template, f"/api/{origin_id}")
    assert found["TargetOriginId"] == origin_id
    assert found["CachePolicyId"] == CACHING_DISABLED
    assert found["OriginRequestPolicyId"] == {"Ref": "ApiOriginRequestPolicy"}
    assert "POST" in found["AllowedMethods"]


def test_stream_behaviour_is_not_compressed(template: dict[str, Any]) -> None:
    assert behaviour(template, "/api/stream")["Compress"] is False


def test_origin_request_policy_forwards_query_strings_for_the_functions_to_refuse(template: dict[str, Any]) -> None:
    config = props(template, "ApiOriginRequestPolicy")["OriginRequestPolicyConfig"]
    assert config["QueryStringsConfig"] == {"QueryStringBehavior": "all"}


def test_origin_request_policy_forwards_only_the_headers_the_functions_read(template: dict[str, Any]) -> None:
    headers = props(template, "ApiOriginRequestPolicy")["OriginRequestPolicyConfig"]["HeadersConfig"]
    assert headers["HeaderBehavior"] == "whitelist"
    _condition, public, others = headers["Headers"]["Fn::If"]  # the list differs by AccessMode
    read = {"accept", "content-type", "x-amz-content-sha256", "x-auth-token"}
    assert {h.lower() for h in others} == read
    # Not Host (SigV4 needs the URL's own), Accept-Encoding or Authorization (OAC's signature goes there).
    assert {h.lower() for h in public} == read | {"cloudfront-viewer-address"}


def test_security_headers_policy_sets_csp_hsts_nosniff_referrer(template: dict[str, Any]) -> None:
    config = props(template, "SecurityHeadersPolicy")["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    csp = evaluate(template, config["ContentSecurityPolicy"]["ContentSecurityPolicy"], {"AccessMode": "public"})
    for directive in ("default-src 'self'", "object-src 'none'", "frame-ancestors 'none'"):
        assert directive in csp
    assert "unsafe-inline" not in csp
    assert config["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31536000
    assert config["ContentTypeOptions"]["Override"] is True
    assert config["ReferrerPolicy"]["ReferrerPolicy"]


def test_security_headers_policy_denies_the_page_features_it_does_not_use(template: dict[str, Any]) -> None:
    items = props(template, "SecurityHeadersPolicy")["ResponseHeadersPolicyConfig"]["CustomHeadersConfig"]["Items"]
    headers = {item["Header"].lower(): item["Value"] for item in items if item["Override"] is True}
    assert {"camera=()", "microphone=()", "geolocation=()"} <= set(headers["permissions-policy"].split(", "))
    assert headers["cross-origin-opener-policy"] == "same-origin"


def test_every_behaviour_carries_the_security_headers(template: dict[str, Any]) -> None:
    config = distribution(template)
    for found in [config["DefaultCacheBehavior"], *config["CacheBehaviors"]]:
        assert found["ResponseHeadersPolicyId"] == {"Ref": "SecurityHeadersPolicy"}


def test_outputs_name_everything_publish_and_users_need(template: dict[str, Any]) -> None:
    assert {
        "SiteUrl",
        "BucketName",
        "DistributionId",
        "SummarizeFunctionUrl",
        "TodoFunctionUrl",
        "StreamFunctionUrl",
        "SecretArn",
    } <= set(template["Outputs"])


@pytest.mark.parametrize("name", ["SummarizeFunction", "TodoFunction", "StreamFunction"])
def test_snapstart_is_off_unless_the_parameter_turns_it_on(template: dict[str, Any], name: str) -> None:
    properties = {**template["Globals"]["Function"], **props(template, name)}
    assert template["Parameters"]["SnapStart"]["Default"] == "false"
    assert properties["AutoPublishAlias"] == "live"
    assert properties["SnapStart"] == {"ApplyOn": {"Fn::If": ["SnapStartOn", "PublishedVersions", "None"]}}


def test_stream_adapter_calls_the_apps_snapstart_hooks(template: dict[str, Any]) -> None:
    from handlers.stream import app

    variables = template["Resources"]["StreamFunction"]["Properties"]["Environment"]["Variables"]
    paths = {route.path for route in app.routes}
    hooks = [variables["AWS_LWA_SNAPSTART_BEFORE_CHECKPOINT_PATH"], variables["AWS_LWA_SNAPSTART_AFTER_RESTORE_PATH"]]
    assert set(hooks) <= paths


# ------------------------------------------------------------------ what deploys for given parameters


def of_type(found: dict[str, dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in found.items() if r["Type"] == kind}


# ------------------------------------------------------------------ budgets


def test_budget_table_is_on_demand(template: dict[str, Any]) -> None:
    assert props(template, "BudgetTable")["BillingMode"] == "PAY_PER_REQUEST"


def test_budget_table_expires_rows_on_the_attribute_the_code_writes(template: dict[str, Any]) -> None:
    ttl = props(template, "BudgetTable")["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}


def test_budget_table_key_is_the_one_the_code_uses(template: dict[str, Any]) -> None:
    table = props(template, "BudgetTable")
    assert table["KeySchema"] == [{"AttributeName": KEY_ATTRIBUTE, "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": KEY_ATTRIBUTE, "AttributeType": "S"}]


def test_budget_policy_names_only_the_budget_table(template: dict[str, Any]) -> None:
    statements = props(template, "BudgetTablePolicy")["PolicyDocument"]["Statement"]
    assert statements == [
        {
            "Effect": "Allow",
            "Action": ["dynamodb:UpdateItem", "dynamodb:GetItem"],
            "Resource": {"Fn::GetAtt": ["BudgetTable", "Arn"]},
        }
    ]


@pytest.mark.parametrize("name", list(FUNCTIONS.values()))
def test_functions_read_the_budget_settings_from_the_stack(template: dict[str, Any], name: str) -> None:
    env = function_env(template, name)
    assert env["BUDGET_TABLE_NAME"] == {"Ref": "BudgetTable"}
    assert env["DAILY_TOKENS_PER_USER"] == {"Ref": "DailyTokensPerUser"}
    assert env["DAILY_TOKENS_TOTAL"] == {"Ref": "DailyTokensTotal"}


def test_the_functions_own_defaults_are_the_templates(template: dict[str, Any]) -> None:
    # What a function reads when a variable is unset (a test, a tool, another template) is what the stack sets.
    parameters, defaults = template["Parameters"], Settings.model_fields
    assert defaults["openai_model"].default == parameters["ModelId"]["Default"]
    assert defaults["max_input_chars"].default == parameters["MaxInputChars"]["Default"]


def test_default_budgets_suit_a_small_team_and_zero_means_no_limit(template: dict[str, Any]) -> None:
    per_user, total = template["Parameters"]["DailyTokensPerUser"], template["Parameters"]["DailyTokensTotal"]
    assert (per_user["Default"], total["Default"]) == ("200000", "2000000")
    assert all(re.fullmatch(parameter["AllowedPattern"], "0") for parameter in (per_user, total))


@pytest.mark.parametrize("typed", ["00", "007", "1e5", "2,000", "-1", "1.5", ""])
def test_a_budget_the_functions_would_read_otherwise_than_the_template_is_refused_at_deploy(
    template: dict[str, Any], typed: str
) -> None:
    for name in ("DailyTokensPerUser", "DailyTokensTotal"):
        assert not re.fullmatch(template["Parameters"][name]["AllowedPattern"], typed)


# ------------------------------------------------------------------ concurrency and WAF


@pytest.mark.parametrize("name", list(FUNCTIONS.values()))
def test_reserved_concurrency_is_left_out_by_default(template: dict[str, Any], name: str) -> None:
    value = props(template, name)["ReservedConcurrentExecutions"]
    assert evaluate(template, value, {}) is NO_VALUE


@pytest.mark.parametrize("name", list(FUNCTIONS.values()))
def test_reserved_concurrency_applies_when_set(template: dict[str, Any], name: str) -> None:
    value = props(template, name)["ReservedConcurrentExecutions"]
    assert evaluate(template, value, {"ReservedConcurrency": "5"}) == "5"


def test_distribution_serves_from_the_cheapest_edges_unless_told_otherwise(template: dict[str, Any]) -> None:
    price_class = distribution(template)["PriceClass"]
    assert evaluate(template, price_class, {}) == "PriceClass_100"
    assert evaluate(template, price_class, {"PriceClass": "PriceClass_All"}) == "PriceClass_All"


def test_distribution_has_no_web_acl_by_default(template: dict[str, Any]) -> None:
    assert evaluate(template, distribution(template)["WebACLId"], {}) is NO_VALUE


def test_distribution_uses_the_web_acl_given(template: dict[str, Any]) -> None:
    arn = "arn:aws:wafv2:us-east-1:123456789012:global/webacl/rate/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"
    assert evaluate(template, distribution(template)["WebACLId"], {"WebAclArn": arn}) == arn
    assert re.fullmatch(template["Parameters"]["WebAclArn"]["AllowedPattern"], arn)


def test_web_acl_must_be_a_cloudfront_acl_from_us_east_1(template: dict[str, Any]) -> None:
    regional = "arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/rate/a1b2c3d4"
    assert not re.fullmatch(template["Parameters"]["WebAclArn"]["AllowedPattern"], regional)


def test_the_reasoning_efforts_the_template_offers_are_the_sdks_and_none(template: dict[str, Any]) -> None:
    (literal, _none) = get_args(ReasoningEffort)
    assert set(template["Parameters"]["ReasoningEffort"]["AllowedValues"]) == {"", *get_args(literal)}


def test_an_existing_secret_is_named_by_its_full_arn_with_its_random_suffix(template: dict[str, Any]) -> None:
    pattern = template["Parameters"]["ExistingSecretArn"]["AllowedPattern"]
    full = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:team/openai-AbCdEf"
    assert re.fullmatch(pattern, full)
    # The read policy names the ARN exactly: without its suffix it matches no secret, and every read is refused.
    assert not re.fullmatch(pattern, full.removesuffix("-AbCdEf"))


# ------------------------------------------------------------------ logs


@pytest.mark.parametrize("name", [*FUNCTIONS.values(), "SignUpDomainCheckFunction"])
def test_each_function_logs_to_a_group_of_the_stack_kept_for_the_retention_given(
    template: dict[str, Any], name: str
) -> None:
    group = props(template, name)["LoggingConfig"]["LogGroup"]["Ref"]
    assert template["Resources"][group]["Type"] == "AWS::Logs::LogGroup"
    assert template["Resources"][group].get("Condition") == template["Resources"][name].get("Condition")
    assert template["Resources"][group]["DeletionPolicy"] == "Delete"
    retention = props(template, group)["RetentionInDays"]
    assert evaluate(template, retention, {"LogRetentionDays": "7"}) == "7"


def test_lambdas_log_filter_follows_the_log_level_and_never_drops_the_metric_lines(template: dict[str, Any]) -> None:
    # EMF lines carry no level, so Lambda counts them as INFO: a stricter filter would drop the metrics.
    assert set(template["Parameters"]["LogLevel"]["AllowedValues"]) == {"DEBUG", "INFO"}
    assert template["Globals"]["Function"]["LoggingConfig"]["ApplicationLogLevel"] == {"Ref": "LogLevel"}


def test_a_deploy_for_another_architecture_than_the_layers_is_refused(template: dict[str, Any]) -> None:
    rule = template["Rules"]["DeployedForTheLayersArchitecture"]
    assert "RuleCondition" not in rule
    ((assertion,),) = [rule["Assertions"]]
    assert assertion["Assert"] == {"Fn::Equals": [{"Ref": "Architecture"}, "arm64"]}
    assert "Architecture=arm64" in assertion["AssertDescription"]


def test_snapstart_is_refused_where_lambda_does_not_offer_it(template: dict[str, Any]) -> None:
    rule = template["Rules"]["SnapStartWhereLambdaOffersIt"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "SnapStart"}, "true"]}
    ((assertion,),) = [rule["Assertions"]]
    assert assertion["Assert"] == {
        "Fn::Not": [{"Fn::Contains": [["ap-southeast-6", "ap-east-2"], {"Ref": "AWS::Region"}]}]
    }


# ------------------------------------------------------------------ alarms and dashboard

EMAIL = "owner@example.com"


def test_no_topic_and_no_alarms_without_an_address(template: dict[str, Any]) -> None:
    found = deployed(template)
    assert of_type(found, "AWS::SNS::Topic") == {}
    assert of_type(found, "AWS::CloudWatch::Alarm") == {}


def test_an_address_gets_a_topic_that_mails_it(template: dict[str, Any]) -> None:
    (topic,) = of_type(deployed(template, AlarmEmail=EMAIL), "AWS::SNS::Topic").values()
    (subscription,) = topic["Properties"]["Subscription"]
    assert subscription["Protocol"] == "email"
    assert evaluate(template, subscription["Endpoint"], {"AlarmEmail": EMAIL}) == EMAIL


def test_an_address_gets_the_four_alarms_on_its_topic(template: dict[str, Any]) -> None:
    alarms = of_type(deployed(template, AlarmEmail=EMAIL), "AWS::CloudWatch::Alarm")
    assert set(alarms) == {"BudgetAlarm", "QuotaExceededAlarm", "UpstreamErrorRateAlarm", "InternalErrorAlarm"}
    assert all(alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}] for alarm in alarms.values())


def test_no_budget_alarm_when_the_total_budget_is_unlimited(template: dict[str, Any]) -> None:
    alarms = of_type(deployed(template, AlarmEmail=EMAIL, DailyTokensTotal="0"), "AWS::CloudWatch::Alarm")
    assert "BudgetAlarm" not in alarms
    assert "QuotaExceededAlarm" in alarms


def test_budget_alarm_fires_at_80_percent_of_the_total(template: dict[str, Any]) -> None:
    alarm = props(template, "BudgetAlarm")
    (percent,) = [m for m in alarm["Metrics"] if m.get("ReturnData")]
    assert percent["Expression"] == {"Fn::Sub": "100 * MAX(FILL([summarize, todo, stream], 0)) / ${DailyTokensTotal}"}
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanOrEqualToThreshold", 80)


def emf_metrics(alarm: dict[str, Any]) -> list[dict[str, Any]]:
    return [m["MetricStat"]["Metric"] for m in alarm["Properties"]["Metrics"] if "MetricStat" in m]


@pytest.mark.parametrize(
    ("alarm", "metric_names"),
    [
        ("BudgetAlarm", {DEPLOYMENT_TOKENS_METRIC}),
        ("QuotaExceededAlarm", {"Error_quota_exceeded"}),
        ("UpstreamErrorRateAlarm", {"Error_upstream_error", "Error_upstream_timeout"}),
        ("InternalErrorAlarm", {"Error_internal_error", "Error_unavailable", "Error_not_configured"}),
    ],
)
def test_alarm_adds_up_each_metric_over_all_three_functions(
    template: dict[str, Any], alarm: str, metric_names: set[str]
) -> None:
    namespace = template["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    emitted = [m for m in emf_metrics(template["Resources"][alarm]) if m["Namespace"] == namespace]
    seen = {(m["MetricName"], d["Value"]) for m in emitted for d in m["Dimensions"] if d["Name"] == "service"}
    assert seen == {(name, service) for name in metric_names for service in FUNCTIONS}


@pytest.mark.parametrize("name", ["BudgetAlarm", "QuotaExceededAlarm", "UpstreamErrorRateAlarm", "InternalErrorAlarm"])
def test_alarm_stays_within_ten_metrics(template: dict[str, Any], name: str) -> None:
    # CloudWatch's hard limit for an alarm on metric math.
    assert len(emf_metrics(template["Resources"][name])) <= 10


def test_dashboard_body_is_json_with_the_five_views(template: dict[str, Any]) -> None:
    body = props(template, "Dashboard")["DashboardBody"]["Fn::Sub"]
    rendered = re.sub(r"\$\{([^}]+)\}", lambda m: "2000000" if m.group(1) == "DailyTokensTotal" else "x", body)
    titles = [widget["properties"]["title"] for widget in json.loads(rendered)["widgets"]]
    assert [title.split()[0] for title in titles] == ["Requests", "Latency", "Tokens", "Errors", "Deployment's"]
