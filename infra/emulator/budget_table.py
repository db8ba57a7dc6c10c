"""The budget table for local runs and tests (moto), shaped like the one template.yaml creates."""

from __future__ import annotations

from typing import Any

from llm_core.budget import KEY_ATTRIBUTE, TTL_ATTRIBUTE


def create_budget_table(dynamodb: Any, table_name: str) -> None:
    """Create the on-demand table with its TTL, through ``dynamodb`` (a boto3 DynamoDB client). A table an
    earlier run in this process created is kept, with its counts."""
    try:
        dynamodb.create_table(
            TableName=table_name,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": KEY_ATTRIBUTE, "AttributeType": "S"}],
            KeySchema=[{"AttributeName": KEY_ATTRIBUTE, "KeyType": "HASH"}],
        )
    except dynamodb.exceptions.ResourceInUseException:
        return
    dynamodb.update_time_to_live(
        TableName=table_name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
    )
