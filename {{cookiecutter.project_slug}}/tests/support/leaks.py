"""What no error body may contain: a driver or library name, an exception class name, a
traceback fragment, SQL or a bind parameter. The fuzz, outage and integrity suites scan every
4xx/5xx body they see with :func:`assert_no_leak`."""

from __future__ import annotations

import re

import httpx

LEAKS = re.compile(
    r"asyncpg|sqlalchemy|psycopg|pymongo|bson|botocore|boto3|aioboto|mongoeco|moto\b|"
    r"Traceback|File \"|\b[A-Z][A-Za-z]*(Error|Exception)\b|\$\d|"
    r"\bSELECT |\bINSERT |\bUPDATE |sqlstate|errno",
)


def leak_in(text: str) -> str | None:
    found = LEAKS.search(text)
    return None if found is None else found.group(0)


def assert_no_leak(response: httpx.Response) -> None:
    """An error answer says what happened in the service's words, never the driver's."""
    if response.status_code >= 400:
        leaked = leak_in(response.text)
        assert leaked is None, f"{leaked!r} leaked in {response.status_code}: {response.text}"
