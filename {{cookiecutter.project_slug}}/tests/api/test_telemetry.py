"""OpenTelemetry (adapters/observability/otel.py), read back with the SDK's in-memory exporters:
a request's spans (FastAPI, PostgreSQL, AWS) carry its request id, and the HTTP server metrics
count it per route template."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from dependency_injector import providers
from fastapi import FastAPI
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind

from {{cookiecutter.package_name}}.adapters.observability.otel import Telemetry
from {{cookiecutter.package_name}}.builders import telemetry_options
from {{cookiecutter.package_name}}.container import create_container
from {{cookiecutter.package_name}}.main import create_app
from {{cookiecutter.package_name}}.settings import Settings

from tests.support.app import ADMIN, KIT, WIDGET_ID, bearer, memory_settings
from tests.support.postgres_scratch import (
    create_scratch_database,
    drop_scratch_database,
)


@dataclass
class Traced:
    app: FastAPI
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader
    telemetry: Telemetry


def traced_app(settings: Settings) -> Traced:
    spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
    container = create_container(settings, (KIT,))
    telemetry = Telemetry(telemetry_options(settings), span_exporter=spans, metric_reader=reader)
    container.telemetry.override(providers.Object(telemetry))
    return Traced(create_app(container=container), spans, reader, telemetry)


@pytest.fixture(params=["memory", "postgres"])
async def traced(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Traced]:
    overrides: dict[str, Any] = {"otel_enabled": True}
    scratch = None
    if request.param == "postgres":
        scratch = await create_scratch_database()  # skip locally, fail under CI
        overrides.update(repo_database="postgres", postgres_dsn=scratch)
    try:
        result = traced_app(memory_settings(tmp_path, **overrides))
        async with result.app.router.lifespan_context(result.app):
            yield result
    finally:
        if scratch is not None:
            await drop_scratch_database(scratch)


@pytest.fixture
async def client(traced: Traced) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=traced.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        http.headers.update(await bearer(http, ADMIN))
        yield http


def server_spans(traced: Traced) -> list[ReadableSpan]:
    return [s for s in traced.spans.get_finished_spans() if s.kind is SpanKind.SERVER]


def data_points(reader: InMemoryMetricReader, name: str) -> list[Any]:
    data = reader.get_metrics_data()
    assert data is not None
    return [
        point
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]


async def test_a_request_is_traced_with_its_request_id(
    traced: Traced, client: httpx.AsyncClient
) -> None:
    traced.spans.clear()

    response = await client.get(f"/widgets/{WIDGET_ID}", headers={"X-Request-ID": "trace-me"})

    assert response.status_code == 200
    (server,) = server_spans(traced)
    attributes = dict(server.attributes or {})
    assert server.name == "GET /widgets/{id}"
    assert attributes["http.route"] == "/widgets/{id}"
    assert attributes["http.response.status_code"] == 200
    assert attributes["request.id"] == "trace-me"
    assert server.resource.attributes["service.name"] == memory_settings(Path()).service_name


@pytest.mark.parametrize("traced", ["postgres"], indirect=True)
async def test_a_request_on_postgres_has_database_spans_in_its_trace(
    traced: Traced, client: httpx.AsyncClient
) -> None:
    traced.spans.clear()

    response = await client.get(f"/widgets/{WIDGET_ID}", headers={"X-Request-ID": "pg-1"})

    assert response.status_code == 200
    (server,) = server_spans(traced)
    assert server.context is not None
    database = [
        span
        for span in traced.spans.get_finished_spans()
        if (span.attributes or {}).get("db.system") == "postgresql"
        or (span.attributes or {}).get("db.system.name") == "postgresql"
    ]
    assert database, [span.name for span in traced.spans.get_finished_spans()]
    for span in database:
        assert span.kind is SpanKind.CLIENT
        assert span.context is not None
        assert span.context.trace_id == server.context.trace_id
        assert (span.attributes or {})["request.id"] == "pg-1"
    assert any("widgets" in str((s.attributes or {}).get("db.statement", "")) for s in database)


async def test_request_count_and_latency_per_route(
    traced: Traced, client: httpx.AsyncClient
) -> None:
    for _ in range(3):
        await client.get(f"/widgets/{WIDGET_ID}")
    await client.get("/widgets/missing")

    points = data_points(traced.metrics, "http.server.request.duration")
    by_route: dict[tuple[str, int], Any] = {
        (p.attributes["http.route"], p.attributes["http.response.status_code"]): p
        for p in points
        if p.attributes.get("http.request.method") == "GET" and "http.route" in p.attributes
    }
    assert by_route[("/widgets/{id}", 200)].count == 3
    assert by_route[("/widgets/{id}", 404)].count == 1
    assert by_route[("/widgets/{id}", 200)].sum > 0  # seconds
    assert not any("missing" in str(p.attributes) for p in points)  # templates, not paths


async def test_a_query_string_on_a_span_is_redacted(
    traced: Traced, client: httpx.AsyncClient
) -> None:
    traced.spans.clear()

    await client.get("/widgets", params={"limit": "5", "signature": "s3cr3t-sig"})

    (server,) = server_spans(traced)
    query = str((server.attributes or {})["url.query"])
    assert "limit=5" in query
    assert "s3cr3t-sig" not in query


async def test_health_probes_are_not_traced(traced: Traced, client: httpx.AsyncClient) -> None:
    traced.spans.clear()

    await client.get("/health/live")

    assert server_spans(traced) == []


async def test_log_lines_inside_a_span_carry_its_trace_id(traced: Traced) -> None:
    import logging

    from opentelemetry import trace

    from {{cookiecutter.package_name}}.adapters.observability.logging import ContextFilter

    tracer = traced.telemetry.tracer_provider.get_tracer("test")
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "inside", None, None)
    with tracer.start_as_current_span("work") as span:
        ContextFilter().filter(record)
        expected = format(span.get_span_context().trace_id, "032x")
    assert record.trace_id == expected  # type: ignore[attr-defined]
    assert trace.get_current_span().get_span_context().is_valid is False


def test_shutdown_removes_the_driver_instrumentation(tmp_path: Path) -> None:
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    telemetry = Telemetry(
        telemetry_options(memory_settings(tmp_path, otel_enabled=True)),
        span_exporter=InMemorySpanExporter(),
        metric_reader=InMemoryMetricReader(),
    )
    instrumentor = AsyncPGInstrumentor()  # type: ignore[no-untyped-call]  # a singleton
    telemetry.start()
    try:
        assert instrumentor.is_instrumented_by_opentelemetry
    finally:
        telemetry.shutdown()
    assert not instrumentor.is_instrumented_by_opentelemetry


@pytest.fixture
def aws_telemetry(tmp_path: Path) -> Iterator[tuple[Telemetry, InMemorySpanExporter]]:
    spans = InMemorySpanExporter()
    telemetry = Telemetry(
        telemetry_options(memory_settings(tmp_path, otel_enabled=True)),
        span_exporter=spans,
        metric_reader=InMemoryMetricReader(),
    )
    telemetry.start()
    try:
        yield telemetry, spans
    finally:
        telemetry.shutdown()


async def test_aws_calls_are_traced(
    aws_telemetry: tuple[Telemetry, InMemorySpanExporter], moto_endpoint: str
) -> None:
    import aioboto3

    _, spans = aws_telemetry
    session = aioboto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    async with session.client("s3", endpoint_url=moto_endpoint) as s3:
        await s3.list_buckets()
        with pytest.raises(Exception, match="NoSuchBucket"):
            await s3.get_object(Bucket="no-such-bucket-for-otel", Key="k")

    listed, failed = spans.get_finished_spans()[-2:]
    assert listed.name == "S3.ListBuckets"
    assert listed.kind is SpanKind.CLIENT
    attributes = dict(listed.attributes or {})
    assert attributes["rpc.system"] == "aws-api"
    assert attributes["rpc.method"] == "ListBuckets"
    assert attributes["http.response.status_code"] == 200
    assert failed.name == "S3.GetObject"
    assert dict(failed.attributes or {})["aws.s3.bucket"] == "no-such-bucket-for-otel"
    assert not failed.status.is_ok
