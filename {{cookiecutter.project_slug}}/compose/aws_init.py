"""The AWS resources the service expects, on compose.yaml's moto server (run by ``aws-init``).

Creates, when missing, the S3 bucket (``S3_BUCKET``) and a Cognito user pool
(``COGNITO_POOL_NAME``) with an app client ``api`` that allows USER_PASSWORD_AUTH and
REFRESH_TOKEN_AUTH, then writes the pool's ids as ``KEY=value`` lines to ``AWS_ENV_FILE``, which
the api services read before they start. Idempotent: run it any number of times. Needs boto3
only (the moto image has it). DynamoDB tables are the provisioner's (``dynamodb-provision``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import boto3

CLIENT_NAME = "api"


def ensure_bucket(s3: Any, bucket: str, region: str) -> None:
    if any(found["Name"] == bucket for found in s3.list_buckets().get("Buckets", [])):
        return
    if region == "us-east-1":
        s3.create_bucket(Bucket=bucket)
    else:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})


def ensure_user_pool(cognito: Any, name: str) -> tuple[str, str]:
    pools = cognito.list_user_pools(MaxResults=60)["UserPools"]
    pool_id = next((pool["Id"] for pool in pools if pool["Name"] == name), None)
    if pool_id is None:
        created = cognito.create_user_pool(PoolName=name, AutoVerifiedAttributes=["email"])
        pool_id = created["UserPool"]["Id"]
    clients = cognito.list_user_pool_clients(UserPoolId=pool_id, MaxResults=60)["UserPoolClients"]
    client_id = next((c["ClientId"] for c in clients if c["ClientName"] == CLIENT_NAME), None)
    if client_id is None:
        created = cognito.create_user_pool_client(
            UserPoolId=pool_id,
            ClientName=CLIENT_NAME,
            GenerateSecret=False,
            ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        )
        client_id = created["UserPoolClient"]["ClientId"]
    return str(pool_id), str(client_id)


def main() -> int:
    region = os.environ.get("AWS_REGION", "us-east-1")
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    session = boto3.session.Session(region_name=region)
    bucket = os.environ["S3_BUCKET"]

    ensure_bucket(session.client("s3", endpoint_url=endpoint), bucket, region)
    pool_id, client_id = ensure_user_pool(
        session.client("cognito-idp", endpoint_url=endpoint), os.environ["COGNITO_POOL_NAME"]
    )

    target = Path(os.environ["AWS_ENV_FILE"])
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(f"COGNITO_USER_POOL_ID={pool_id}\nCOGNITO_CLIENT_ID={client_id}\n")
    print(f"aws-init: bucket {bucket}, user pool {pool_id}, app client {client_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
