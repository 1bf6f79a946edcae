"""One aioboto3 session for the whole test run.

A new session reads botocore's service models from disk for its first client (70-200 ms a
client here); a client from a session that has made one before takes about 2 ms. The contract
suites open hundreds of clients, since each DynamoDB, S3 and Cognito case starts its own
adapter, so the helpers that start them pass this session. Each adapter still opens, uses and
closes its own client, as in production; the credentials come from the environment moto's
fixture sets.
"""

from __future__ import annotations

import functools

import aioboto3


@functools.cache
def aws_session() -> aioboto3.Session:
    return aioboto3.Session()
