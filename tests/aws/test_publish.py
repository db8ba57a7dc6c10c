"""infra.deploy.publish against moto: CloudFormation outputs, S3 and CloudFront."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra.deploy import publish
from llm_core.page_config import page_config

REGION = "us-east-1"
STACK = "llm-endpoints-test"
SITE_URL = "https://d111111abcdef8.cloudfront.net/"
PUBLIC_OUTPUTS = {"AccessMode": "public", "MaxInputChars": "20000", "SiteUrl": SITE_URL}
COGNITO_OUTPUTS = {
    "AccessMode": "cognito",
    "MaxInputChars": "12000",
    "SiteUrl": SITE_URL,
    "UserPoolId": "us-east-1_AbCdEf123",
    "UserPoolClientId": "1example23456789abcdefghij",
    "LoginDomain": "https://login-3f9a2c1d.auth.us-east-1.amazoncognito.com",
}


@dataclass
class FakeAccount:
    s3: Any
    cloudfront: Any
    cloudformation: Any
    bucket: str
    distribution_id: str

    def create_stack(self, name: str, outputs: dict[str, str]) -> None:
        """A stack whose only job is to carry the given outputs, as the real template's do."""
        template = {
            "Resources": {"Placeholder": {"Type": "AWS::SNS::Topic"}},
            "Outputs": {key: {"Value": value} for key, value in outputs.items()},
        }
        self.cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(template))

    def object_keys(self) -> list[str]:
        listing = self.s3.list_objects_v2(Bucket=self.bucket)
        return sorted(obj["Key"] for obj in listing.get("Contents", []))

    def head(self, key: str) -> dict[str, Any]:
        return self.s3.head_object(Bucket=self.bucket, Key=key)

    def invalidations(self) -> list[dict[str, Any]]:
        listing = self.cloudfront.list_invalidations(DistributionId=self.distribution_id)
        return listing["InvalidationList"].get("Items", [])


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials so nothing can reach a real account, whatever the machine has configured."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


@pytest.fixture
def account(aws_env: None) -> Iterator[FakeAccount]:
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        cloudfront = boto3.client("cloudfront", region_name=REGION)
        cloudformation = boto3.client("cloudformation", region_name=REGION)
        s3.create_bucket(Bucket="site-bucket")
        distribution = cloudfront.create_distribution(
            DistributionConfig={
                "CallerReference": "test",
                "Comment": "test",
                "Enabled": True,
                "DefaultRootObject": "index.html",
                "Origins": {
                    "Quantity": 1,
                    "Items": [
                        {
                            "Id": "site",
                            "DomainName": "site-bucket.s3.us-east-1.amazonaws.com",
                            "S3OriginConfig": {"OriginAccessIdentity": ""},
                        }
                    ],
                },
                "DefaultCacheBehavior": {
                    "TargetOriginId": "site",
                    "ViewerProtocolPolicy": "redirect-to-https",
                    "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6",
                },
            }
        )
        fake = FakeAccount(s3, cloudfront, cloudformation, "site-bucket", distribution["Distribution"]["Id"])
        fake.create_stack(STACK, {**PUBLIC_OUTPUTS, "BucketName": fake.bucket, "DistributionId": fake.distribution_id})
        yield fake


@pytest.fixture
def static_dir(tmp_path: Path) -> Path:
    """A small site shaped like static/: a page, a fingerprinted and a plain asset, a dotfile."""
    root = tmp_path / "static"
    (root / "js").mkdir(parents=True)
    (root / "css").mkdir()
    (root / "index.html").write_text("<!doctype html><title>t</title>")
    (root / "js" / "app.3f9a2c1d.js").write_text("console.log(1)")
    (root / "js" / "sse.js").write_text("export {}")
    (root / "css" / "site.css").write_text("body{}")
    (root / "favicon.svg").write_text("<svg/>")
    (root / ".DS_Store").write_bytes(b"\0")
    return root


def run(*args: str) -> int:
    return publish.main(["--region", REGION, *args])


def run_publish(static_dir: Path, stack: str = STACK) -> int:
    return run("--stack-name", stack, "--static-dir", str(static_dir))


def assert_one_line_error(err: str, *fragments: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0]


# ------------------------------------------------------------------ rules


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("index.html", "no-cache"),
        ("docs/about.html", "no-cache"),
        ("js/app.3f9a2c1d.js", "public, max-age=31536000, immutable"),
        ("css/site-0123abcd89ef.css", "public, max-age=31536000, immutable"),
        ("js/sse.js", "public, max-age=60"),
        ("js/sha256.js", "public, max-age=60"),
        ("favicon.svg", "public, max-age=60"),
    ],
)
def test_cache_control_rule(name: str, expected: str) -> None:
    assert publish.cache_control_for(name) == expected


@pytest.mark.parametrize("name", ["img/badge-facade.svg", "js/app.1234567.js"])
def test_a_hex_run_shorter_than_eight_digits_is_no_fingerprint(name: str) -> None:
    # A word spelt in hex letters, or a 7-digit git hash: the name may well stay when the content changes.
    assert publish.cache_control_for(name) == "public, max-age=60"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("index.html", "text/html; charset=utf-8"),
        ("js/sse.js", "text/javascript; charset=utf-8"),
        ("css/site.css", "text/css; charset=utf-8"),
        ("favicon.svg", "image/svg+xml"),
        ("data.bin", "application/octet-stream"),
    ],
)
def test_content_type_rule(name: str, expected: str) -> None:
    assert publish.content_type_for(name) == expected


# ------------------------------------------------------------------ publishing


def test_uploads_every_visible_file(account: FakeAccount, static_dir: Path) -> None:
    assert run_publish(static_dir) == 0
    assert account.object_keys() == [
        "config.json",
        "css/site.css",
        "favicon.svg",
        "index.html",
        "js/app.3f9a2c1d.js",
        "js/sse.js",
    ]


def test_index_html_is_uploaded_as_uncached_html(account: FakeAccount, static_dir: Path) -> None:
    run_publish(static_dir)
    head = account.head("index.html")
    assert (head["ContentType"], head["CacheControl"]) == ("text/html; charset=utf-8", "no-cache")


def test_fingerprinted_asset_is_uploaded_as_immutable(account: FakeAccount, static_dir: Path) -> None:
    run_publish(static_dir)
    head = account.head("js/app.3f9a2c1d.js")
    assert head["ContentType"] == "text/javascript; charset=utf-8"
    assert head["CacheControl"] == "public, max-age=31536000, immutable"


def test_plain_asset_is_uploaded_with_short_max_age(account: FakeAccount, static_dir: Path) -> None:
    run_publish(static_dir)
    head = account.head("css/site.css")
    assert (head["ContentType"], head["CacheControl"]) == ("text/css; charset=utf-8", "public, max-age=60")


def test_stale_objects_are_deleted(account: FakeAccount, static_dir: Path) -> None:
    account.s3.put_object(Bucket=account.bucket, Key="js/old.js", Body=b"old")
    account.s3.put_object(Bucket=account.bucket, Key="removed/page.html", Body=b"old")
    run_publish(static_dir)
    assert "js/old.js" not in account.object_keys()
    assert "removed/page.html" not in account.object_keys()


def test_one_invalidation_covers_everything(account: FakeAccount, static_dir: Path) -> None:
    run_publish(static_dir)
    invalidations = account.invalidations()
    assert len(invalidations) == 1
    batch = account.cloudfront.get_invalidation(DistributionId=account.distribution_id, Id=invalidations[0]["Id"])
    assert batch["Invalidation"]["InvalidationBatch"]["Paths"]["Items"] == ["/*"]


def test_success_prints_a_summary(account: FakeAccount, static_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_publish(static_dir)
    out = capsys.readouterr().out
    assert f"published 6 files to s3://{account.bucket}" in out


def config_of(account: FakeAccount) -> dict[str, Any]:
    return json.loads(account.s3.get_object(Bucket=account.bucket, Key="config.json")["Body"].read())


def with_outputs(account: FakeAccount, name: str, outputs: dict[str, str]) -> str:
    account.create_stack(name, {**outputs, "BucketName": account.bucket, "DistributionId": account.distribution_id})
    return name


def test_config_json_tells_the_page_how_to_sign_in_with_cognito(account: FakeAccount, static_dir: Path) -> None:
    assert run_publish(static_dir, stack=with_outputs(account, "signed", COGNITO_OUTPUTS)) == 0
    assert config_of(account) == {
        **page_config(12000),
        "auth": {
            "mode": "cognito",
            "region": "us-east-1",
            "user_pool_id": "us-east-1_AbCdEf123",
            "client_id": "1example23456789abcdefghij",
            "domain": "https://login-3f9a2c1d.auth.us-east-1.amazoncognito.com",
            "redirect_uri": SITE_URL,
            "logout_uri": SITE_URL,
            "scopes": ["openid", "email"],
            "header": "x-auth-token",
        },
    }


def test_config_json_of_a_public_stack_needs_no_sign_in(account: FakeAccount, static_dir: Path) -> None:
    run_publish(static_dir)
    assert config_of(account) == page_config(20000)
    assert config_of(account)["auth"] == {"mode": "none"}


def test_config_json_of_an_iam_stack_says_iam(account: FakeAccount, static_dir: Path) -> None:
    run_publish(static_dir, stack=with_outputs(account, "closed", {**PUBLIC_OUTPUTS, "AccessMode": "iam"}))
    assert config_of(account)["auth"] == {"mode": "iam"}


def test_config_json_is_uncached_json(account: FakeAccount, static_dir: Path) -> None:
    run_publish(static_dir)
    head = account.head("config.json")
    assert (head["ContentType"], head["CacheControl"]) == ("application/json", "no-cache")


def test_local_config_json_never_replaces_the_stacks(account: FakeAccount, static_dir: Path) -> None:
    (static_dir / "config.json").write_text('{"auth": {"mode": "none"}, "local": true}')
    run_publish(static_dir, stack=with_outputs(account, "signed", COGNITO_OUTPUTS))
    assert config_of(account)["auth"]["mode"] == "cognito"


def test_publishing_again_keeps_config_json(account: FakeAccount, static_dir: Path) -> None:
    # The second publish finds the first one's config.json in the bucket: it is the page's, not a stale file.
    run_publish(static_dir)
    assert run_publish(static_dir) == 0
    assert "config.json" in account.object_keys()
    assert config_of(account) == page_config(20000)


def test_cognito_stack_without_pool_outputs_is_one_line_error(
    account: FakeAccount, static_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = {key: value for key, value in COGNITO_OUTPUTS.items() if key != "UserPoolClientId"}
    assert run_publish(static_dir, stack=with_outputs(account, "half", outputs)) == 1
    assert_one_line_error(capsys.readouterr().err, "UserPoolClientId")
    assert account.object_keys() == []


def test_empty_deletes_every_object(account: FakeAccount, static_dir: Path) -> None:
    run_publish(static_dir)
    assert run("--stack-name", STACK, "--empty") == 0
    assert account.object_keys() == []


# ------------------------------------------------------------------ errors


def test_missing_stack_is_one_line_error(
    account: FakeAccount, static_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_publish(static_dir, stack="no-such-stack") == 1
    assert_one_line_error(capsys.readouterr().err, "no-such-stack", "not found")


def test_missing_bucket_is_one_line_error(
    account: FakeAccount, static_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    account.create_stack(
        "gone", {**PUBLIC_OUTPUTS, "BucketName": "deleted-bucket", "DistributionId": account.distribution_id}
    )
    assert run_publish(static_dir, stack="gone") == 1
    assert_one_line_error(capsys.readouterr().err, "deleted-bucket", "does not exist")


def test_missing_bucket_invalidates_nothing(account: FakeAccount, static_dir: Path) -> None:
    account.create_stack(
        "gone", {**PUBLIC_OUTPUTS, "BucketName": "deleted-bucket", "DistributionId": account.distribution_id}
    )
    run_publish(static_dir, stack="gone")
    assert account.invalidations() == []


def test_stack_without_outputs_is_one_line_error(
    account: FakeAccount, static_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    account.create_stack("bare", {"Other": "x"})
    assert run_publish(static_dir, stack="bare") == 1
    assert_one_line_error(capsys.readouterr().err, "BucketName", "DistributionId")


def test_missing_static_dir_is_one_line_error(
    account: FakeAccount, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_publish(tmp_path / "nowhere") == 1
    assert_one_line_error(capsys.readouterr().err, "nowhere", "not found")


def test_no_credentials_is_one_line_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, static_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    # No instance-metadata lookup, and should anything still be sent, it goes to a closed port.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    assert run_publish(static_dir) == 1
    assert_one_line_error(capsys.readouterr().err, "no AWS credentials")


# ------------------------------------------------------------------ defaults from samconfig.toml


def write_samconfig(path: Path, deploy: str, global_: str = "") -> Path:
    path.write_text(f"version = 0.1\n[default.global.parameters]\n{global_}\n[default.deploy.parameters]\n{deploy}\n")
    return path


def test_samconfig_deploy_section_wins_over_global(tmp_path: Path) -> None:
    config = write_samconfig(
        tmp_path / "samconfig.toml",
        'stack_name = "deployed"\nregion = "eu-central-1"',
        'stack_name = "global"',
    )
    assert publish.samconfig_defaults(config) == {"stack_name": "deployed", "region": "eu-central-1"}


def test_publish_finds_stack_and_region_in_samconfig(account: FakeAccount, static_dir: Path, tmp_path: Path) -> None:
    config = write_samconfig(tmp_path / "samconfig.toml", f'stack_name = "{STACK}"\nregion = "{REGION}"')
    assert publish.main(["--config-file", str(config), "--static-dir", str(static_dir)]) == 0
    assert "index.html" in account.object_keys()


def test_no_stack_name_anywhere_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert publish.main(["--config-file", str(tmp_path / "missing.toml")]) == 1
    assert_one_line_error(capsys.readouterr().err, "--stack-name")
