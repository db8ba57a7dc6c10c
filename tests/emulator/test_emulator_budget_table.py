"""infra.emulator.budget_table: the local budget table (moto) has the deployed table's key and TTL."""

from __future__ import annotations

import boto3
from moto import mock_aws

from infra.emulator.budget_table import create_budget_table
from llm_core.budget import KEY_ATTRIBUTE, TTL_ATTRIBUTE

REGION = "eu-west-1"


def test_local_table_is_keyed_and_expired_like_the_deployed_one(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        create_budget_table(client, "budgets")
        table = client.describe_table(TableName="budgets")["Table"]
        ttl = client.describe_time_to_live(TableName="budgets")["TimeToLiveDescription"]
    assert table["KeySchema"] == [{"AttributeName": KEY_ATTRIBUTE, "KeyType": "HASH"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", TTL_ATTRIBUTE)


def test_creating_the_table_again_keeps_its_counts(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        create_budget_table(client, "budgets")
        client.put_item(TableName="budgets", Item={KEY_ATTRIBUTE: {"S": "total#2026-11-22"}, "used": {"N": "5"}})
        create_budget_table(client, "budgets")
        item = client.get_item(TableName="budgets", Key={KEY_ATTRIBUTE: {"S": "total#2026-11-22"}})["Item"]
    assert item["used"] == {"N": "5"}
