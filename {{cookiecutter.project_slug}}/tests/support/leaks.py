"""What no error body may contain: a driver or library name, an exception class name, a
traceback fragment, SQL or a bind parameter. The fuzz, outage and integrity suites scan every
4xx/5xx body they see with :func:`assert_no_leak`."""

from __future__ import annotations

import json
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


def service_words(body: str) -> str:
    """An error body without what it echoes of the request: a validation error's ``loc`` names
    the caller's own keys (a fuzzer may well send one called ``asyncpg``)."""
    try:
        data = json.loads(body)
    except ValueError:
        return body
    if (
        isinstance(data, dict)
        and data.get("error") == "validation_error"
        and isinstance(data.get("detail"), list)
    ):
        data["detail"] = [
            {k: v for k, v in item.items() if k != "loc"} if isinstance(item, dict) else item
            for item in data["detail"]
        ]
        data["message"] = str(data.get("message", "")).split(":", 1)[-1]  # "<loc>: <msg>"
    return json.dumps(data)


def assert_no_leak(response: httpx.Response) -> None:
    """An error answer says what happened in the service's words, never the driver's."""
    if response.status_code >= 400:
        leaked = leak_in(service_words(response.text))
        assert leaked is None, f"{leaked!r} leaked in {response.status_code}: {response.text}"
