"""Publish static/ to the stack's S3 bucket and refresh CloudFront.

    python -m infra.deploy.publish [--stack-name llm-endpoints] [--region eu-west-1] [--static-dir static]
    python -m infra.deploy.publish --empty                  # before `sam delete`

Stack name and region default to the ones `sam deploy` used (samconfig.toml, config env
"default"); without a region there, the AWS profile's region applies.

Reads the stack outputs BucketName and DistributionId, uploads every file under static/ with its
Content-Type and Cache-Control, writes the page's config.json from the stack outputs (limits, and how
to sign in: AccessMode, UserPoolId, UserPoolClientId, LoginDomain, SiteUrl), deletes objects that are
no longer in static/, and creates one CloudFront invalidation for "/*" (one path, so it stays inside
the free 1,000 paths a month).

Cache-Control rule (browsers; CloudFront itself is refreshed by the invalidation):
  * *.html                                   -> "no-cache": revalidated on every load, so a deploy
                                                is visible at once.
  * fingerprinted names, i.e. a dot- or dash-separated run of 8+ hex digits right before the
    extension (app.3f9a2c1d.js, style-0123abcd89.css)
                                             -> "public, max-age=31536000, immutable": a new
                                                content gets a new name, so the old one may be
                                                kept forever.
  * anything else (js/sse.js, favicon.svg)   -> "public, max-age=60": the name stays when the
                                                content changes, so keep the window in which a new
                                                index.html can meet an old script short.
  * config.json (written, never taken from static/) -> "no-cache", like the page that reads it.

Every failure (no credentials, stack or bucket missing, ...) is one line on stderr and exit code 1.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tomllib
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from boto3.exceptions import Boto3Error
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
)

from llm_core.page_config import cognito_auth, page_config

HTML_CACHE = "no-cache"
IMMUTABLE_CACHE = "public, max-age=31536000, immutable"
SHORT_CACHE = "public, max-age=60"
CONFIG_KEY = "config.json"

_FINGERPRINT = re.compile(r"[.-][0-9a-fA-F]{8,}\.[A-Za-z0-9]+$")

# Explicit so the result does not depend on the machine's /etc/mime.types.
_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".ico": "image/x-icon",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
}
_DEFAULT_CONTENT_TYPE = "application/octet-stream"


class PublishError(Exception):
    """A failure the user can fix; its message is the one line printed."""


@dataclass(frozen=True)
class StackTargets:
    bucket: str
    distribution_id: str
    outputs: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LocalFile:
    key: str
    path: Path
    content_type: str
    cache_control: str


@dataclass(frozen=True)
class PublishResult:
    uploaded: list[str]
    deleted: list[str]
    invalidation_id: str


def content_type_for(name: str) -> str:
    return _CONTENT_TYPES.get(Path(name).suffix.lower(), _DEFAULT_CONTENT_TYPE)


def cache_control_for(name: str) -> str:
    base = Path(name).name
    if base.lower().endswith((".html", ".htm")):
        return HTML_CACHE
    if _FINGERPRINT.search(base):
        return IMMUTABLE_CACHE
    return SHORT_CACHE


def local_files(static_dir: Path) -> list[LocalFile]:
    """Every non-hidden file under static_dir, keyed by its POSIX path relative to it."""
    if not static_dir.is_dir():
        raise PublishError(f"static directory {str(static_dir)!r} not found")
    files = []
    for path in sorted(static_dir.rglob("*")):
        rel = path.relative_to(static_dir)
        if not path.is_file() or any(part.startswith(".") for part in rel.parts) or rel.as_posix() == CONFIG_KEY:
            continue
        key = rel.as_posix()
        files.append(LocalFile(key, path, content_type_for(key), cache_control_for(key)))
    if not files:
        raise PublishError(f"static directory {str(static_dir)!r} is empty")
    return files


def stack_targets(cloudformation: Any, stack_name: str) -> StackTargets:
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        if _code(exc) == "ValidationError" and "does not exist" in _message(exc):
            raise PublishError(
                f"stack {stack_name!r} not found in {_region(cloudformation)} (deploy it first, or pass --region)"
            ) from None
        raise
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    missing = [k for k in ("BucketName", "DistributionId") if not outputs.get(k)]
    if missing:
        raise PublishError(
            f"stack {stack_name!r} has no output {', '.join(missing)} "
            f"(status {stacks[0].get('StackStatus', '?')}; was it deployed from this template?)"
        )
    return StackTargets(outputs["BucketName"], outputs["DistributionId"], outputs)


def _require(outputs: Mapping[str, str], *names: str) -> None:
    missing = [name for name in names if not outputs.get(name)]
    if missing:
        raise PublishError(
            f"the stack has no output {', '.join(missing)} (deployed from an older template? run `sam deploy`)"
        )


def site_config(outputs: Mapping[str, str]) -> dict[str, Any]:
    """The page's config.json: its limits, and how it signs in, from the stack outputs."""
    _require(outputs, "AccessMode", "MaxInputChars")
    mode = outputs["AccessMode"]
    auth: dict[str, Any]
    if mode == "cognito":
        _require(outputs, "UserPoolId", "UserPoolClientId", "LoginDomain", "SiteUrl")
        auth = cognito_auth(
            outputs["UserPoolId"], outputs["UserPoolClientId"], outputs["LoginDomain"], outputs["SiteUrl"]
        )
    elif mode == "iam":
        # No API through CloudFront: the page shows that the tools are for signed (SigV4) calls only.
        auth = {"mode": "iam"}
    elif mode == "public":
        auth = {"mode": "none"}
    else:
        raise PublishError(f"the stack's AccessMode output {mode!r} is none of cognito, iam, public")
    return page_config(int(outputs["MaxInputChars"]), auth)


def remote_keys(s3: Any, bucket: str) -> set[str]:
    keys: set[str] = set()
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            keys.update(obj["Key"] for obj in page.get("Contents", []))
    except ClientError as exc:
        if _code(exc) in ("NoSuchBucket", "404"):
            raise PublishError(
                f"bucket {bucket!r} from the stack outputs does not exist (deleted outside "
                "CloudFormation? run `sam deploy` again)"
            ) from None
        raise
    return keys


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def delete_keys(s3: Any, bucket: str, keys: Iterable[str]) -> list[str]:
    doomed = sorted(keys)
    for batch in _chunks(doomed, 1000):  # DeleteObjects takes at most 1,000 keys
        response = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True})
        if response.get("Errors"):
            first = response["Errors"][0]
            raise PublishError(f"could not delete s3://{bucket}/{first['Key']}: {first['Message']}")
    return doomed


def publish(s3: Any, cloudfront: Any, targets: StackTargets, static_dir: Path) -> PublishResult:
    files = local_files(static_dir)
    config = json.dumps(site_config(targets.outputs), indent=2).encode("utf-8")
    # Listing first fails fast on a missing bucket, before anything is uploaded.
    existing = remote_keys(s3, targets.bucket)
    for f in files:
        s3.upload_file(
            str(f.path),
            targets.bucket,
            f.key,
            ExtraArgs={"ContentType": f.content_type, "CacheControl": f.cache_control},
        )
    s3.put_object(
        Bucket=targets.bucket, Key=CONFIG_KEY, Body=config, ContentType="application/json", CacheControl=HTML_CACHE
    )
    uploaded = [f.key for f in files] + [CONFIG_KEY]
    deleted = delete_keys(s3, targets.bucket, existing - set(uploaded))
    invalidation = cloudfront.create_invalidation(
        DistributionId=targets.distribution_id,
        InvalidationBatch={
            "Paths": {"Quantity": 1, "Items": ["/*"]},
            "CallerReference": f"publish-{uuid.uuid4()}",
        },
    )
    return PublishResult(uploaded, deleted, invalidation["Invalidation"]["Id"])


def empty_bucket(s3: Any, bucket: str) -> list[str]:
    """Delete every object, so that `sam delete` can remove the bucket."""
    return delete_keys(s3, bucket, remote_keys(s3, bucket))


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", ""))


def _region(client: Any) -> str:
    return str(getattr(client.meta, "region_name", None) or "the default region")


def _describe(exc: Exception) -> str:
    """One line for any AWS failure."""
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return "no AWS credentials found: run `aws configure` or `aws sso login`, or set AWS_PROFILE"
    if isinstance(exc, NoRegionError):
        return "no AWS region: pass --region or set AWS_REGION"
    if isinstance(exc, EndpointConnectionError):
        return f"cannot reach AWS: {exc}"
    if isinstance(exc, ClientError):
        op = getattr(exc, "operation_name", "request")
        return f"{op} failed: {_code(exc)}: {_message(exc)}"
    return " ".join(str(exc).split()) or type(exc).__name__


def samconfig_defaults(path: Path) -> dict[str, str]:
    """stack_name and region from samconfig.toml's default env, deploy section first as SAM reads it."""
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8")).get("default", {})
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    found: dict[str, str] = {}
    for section in ("deploy", "global"):
        parameters = config.get(section, {}).get("parameters", {})
        for key in ("stack_name", "region"):
            if isinstance(parameters.get(key), str) and key not in found:
                found[key] = parameters[key]
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m infra.deploy.publish",
        description="Upload static/ to the stack's bucket, delete stale files, invalidate CloudFront.",
    )
    parser.add_argument("--stack-name", help="default: stack_name in samconfig.toml")
    parser.add_argument("--region", help="default: region in samconfig.toml, else your AWS profile's")
    parser.add_argument("--config-file", type=Path, default=Path("samconfig.toml"), help=argparse.SUPPRESS)
    parser.add_argument("--static-dir", type=Path, default=Path("static"))
    parser.add_argument(
        "--empty", action="store_true", help="delete every object in the bucket instead (before `sam delete`)"
    )
    return parser


def main(argv: list[str] | None = None, session: Any = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    defaults = samconfig_defaults(args.config_file)
    args.stack_name = args.stack_name or defaults.get("stack_name")
    args.region = args.region or defaults.get("region")
    if not args.stack_name:
        print(
            "error: no stack name: pass --stack-name (or deploy once so samconfig.toml has one)",
            file=sys.stderr,
        )
        return 1
    try:
        session = session or boto3.Session(region_name=args.region)
        cloudformation = session.client("cloudformation")
        s3 = session.client("s3")
        targets = stack_targets(cloudformation, args.stack_name)
        if args.empty:
            deleted = empty_bucket(s3, targets.bucket)
            print(f"emptied s3://{targets.bucket}: {len(deleted)} objects deleted")
            return 0
        result = publish(s3, session.client("cloudfront"), targets, args.static_dir)
    except PublishError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (BotoCoreError, ClientError, Boto3Error) as exc:
        print(f"error: {_describe(exc)}", file=sys.stderr)
        return 1
    print(
        f"published {len(result.uploaded)} files to s3://{targets.bucket}, deleted {len(result.deleted)}, "
        f"invalidation {result.invalidation_id} on {targets.distribution_id}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
