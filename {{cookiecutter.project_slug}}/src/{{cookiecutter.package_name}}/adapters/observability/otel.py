"""OpenTelemetry traces and metrics, exported over OTLP/HTTP. Imported only when
``OTEL_ENABLED=true`` (the container builds :class:`Telemetry` then, and only then).

- HTTP: FastAPI's own telemetry (FastAPI 0.142 and later), given this service's providers: a
  server span per request (and spans for dependencies, the endpoint and serialization), and the
  stable HTTP server metrics: ``http.server.request.duration`` (a histogram in seconds; its count
  is the request count) per ``http.route`` template, method and status, and
  ``http.server.active_requests``. The health probes are left out.
- PostgreSQL: asyncpg's instrumentation, a span per statement (SQLAlchemy runs on asyncpg).
- MongoDB: PyMongo's command monitoring, a span per command.
- DynamoDB, S3, Cognito: a span per AWS call (aiobotocore, instrumented here: the botocore
  instrumentation does not see aiobotocore's async calls, and there is no official one).
- Every span started during a request carries its ``request.id``; a query string recorded on a
  span (``url.query``) is redacted like a log line; every log line written inside a span carries
  ``trace_id`` and ``span_id``.

The driver instrumentations patch their libraries process-wide: :meth:`Telemetry.start` applies
them (in the lifespan, before any client is opened) and :meth:`Telemetry.shutdown` removes them
and flushes what is left to export. The first telemetry started in a process also becomes the
global tracer and meter provider, so ``opentelemetry.trace.get_tracer(__name__)`` in the
service's own code reports to the same place.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from fastapi.telemetry import TelemetryConfig
from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import SpanKind

from . import logging as service_logging

REQUEST_ID_ATTRIBUTE = "request.id"
UNTRACED_PREFIX = "/health/"  # the probes: frequent, and not what anyone wants to trace
# One export, retries included: a collector that does not answer delays the shutdown's last
# flush (traces, then metrics) by at most twice this, within an orchestrator's grace period.
EXPORT_TIMEOUT_SECONDS = 4.0

logger = logging.getLogger(__name__)


class ServiceSpanProcessor(SpanProcessor):
    """Tag every span started during a request with its request id; redact a query string."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        request_id = service_logging.request_id_var.get()
        if request_id:
            span.set_attribute(REQUEST_ID_ATTRIBUTE, request_id)
        query = (span.attributes or {}).get("url.query")
        if isinstance(query, str):
            span.set_attribute("url.query", service_logging.redact(query))

    def on_end(self, span: ReadableSpan) -> None:
        return None


def _untraced(scope: MutableMapping[str, Any]) -> bool:
    return str(scope.get("path", "")).startswith(UNTRACED_PREFIX)


def _trace_ids(record: logging.LogRecord) -> None:
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        record.trace_id = format(context.trace_id, "032x")
        record.span_id = format(context.span_id, "016x")


@dataclass(frozen=True)
class TelemetryOptions:
    """What :class:`Telemetry` is configured with (``builders.telemetry_options`` reads them
    from ``SERVICE_NAME``, ``ENVIRONMENT`` and the ``OTEL_*`` settings)."""

    service_name: str
    environment: str  # deployment.environment.name
    otlp_endpoint: str = "http://localhost:4318"  # /v1/traces and /v1/metrics are added
    traces_sample_ratio: float = 1.0  # of new traces; a request's traceparent decides for it
    metric_export_interval_ms: int = 60_000


class Telemetry:
    """The tracer and meter providers of one service, and the instrumentations feeding them.

    Tests pass a ``span_exporter`` (exported synchronously) and a ``metric_reader``, e.g. the
    SDK's ``InMemorySpanExporter`` and ``InMemoryMetricReader``; by default both go to
    ``options.otlp_endpoint``.
    """

    def __init__(
        self,
        options: TelemetryOptions,
        *,
        span_exporter: SpanExporter | None = None,
        metric_reader: MetricReader | None = None,
    ) -> None:
        resource = Resource.create(
            {
                "service.name": options.service_name,
                "deployment.environment.name": options.environment,
                # one per process: the metrics of several workers and replicas stay apart
                "service.instance.id": uuid.uuid4().hex,
            }
        )
        endpoint = options.otlp_endpoint.rstrip("/")
        self.tracer_provider = TracerProvider(
            resource=resource,
            sampler=ParentBased(TraceIdRatioBased(options.traces_sample_ratio)),
        )
        self.tracer_provider.add_span_processor(ServiceSpanProcessor())
        if span_exporter is None:
            exporter = OTLPSpanExporter(
                endpoint=f"{endpoint}/v1/traces", timeout=EXPORT_TIMEOUT_SECONDS
            )
            self.tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
        else:
            self.tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
        if metric_reader is None:
            metric_reader = PeriodicExportingMetricReader(
                OTLPMetricExporter(
                    endpoint=f"{endpoint}/v1/metrics", timeout=EXPORT_TIMEOUT_SECONDS
                ),
                export_interval_millis=options.metric_export_interval_ms,
            )
        self.meter_provider = MeterProvider(resource=resource, metric_readers=[metric_reader])
        self._undo: list[Callable[[], None]] = []

    # --- per app ------------------------------------------------------------------------------

    def fastapi_config(self) -> TelemetryConfig:
        """``FastAPI(telemetry=...)``: FastAPI's telemetry, on this service's providers."""
        return {
            "tracer_provider": self.tracer_provider,
            "meter_provider": self.meter_provider,
            "tracing": True,
            "metrics": True,
            "logs": False,  # the service's logs go to stdout (with trace ids), not over OTLP
            "auto_configure": False,
            "exclude": _untraced,
        }

    @staticmethod
    def tag_request(request_id: str) -> None:
        """The request's server span (started before the request id was known) gets it too."""
        trace.get_current_span().set_attribute(REQUEST_ID_ATTRIBUTE, request_id)

    # --- per process --------------------------------------------------------------------------

    def start(self) -> None:
        """Instrument the drivers that are installed; become the global providers if none is."""
        if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
            trace.set_tracer_provider(self.tracer_provider)
            metrics.set_meter_provider(self.meter_provider)
        self._instrument_asyncpg()
        self._instrument_pymongo()
        self._instrument_aiobotocore()
        service_logging.record_enrichers.append(_trace_ids)
        self._undo.append(lambda: service_logging.record_enrichers.remove(_trace_ids))

    def shutdown(self) -> None:
        """Remove the instrumentations and flush the spans and metrics not yet exported."""
        while self._undo:
            self._undo.pop()()
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()

    def _instrument_asyncpg(self) -> None:
        try:
            from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
        except ImportError:  # the driver is not installed: nothing to instrument
            return

        instrumentor = AsyncPGInstrumentor()  # type: ignore[no-untyped-call]
        if instrumentor.is_instrumented_by_opentelemetry:
            return  # another telemetry of this process has it
        instrumentor.instrument(tracer_provider=self.tracer_provider)
        self._undo.append(instrumentor.uninstrument)

    def _instrument_pymongo(self) -> None:
        try:
            from opentelemetry.instrumentation.pymongo import PymongoInstrumentor
        except ImportError:
            return

        instrumentor = PymongoInstrumentor()
        if instrumentor.is_instrumented_by_opentelemetry:
            return
        instrumentor.instrument(tracer_provider=self.tracer_provider)

        def undo() -> None:
            instrumentor.uninstrument()
            # PyMongo cannot unregister a listener: the instrumentation disables it, and would
            # enable that one again (with this provider) next time. Forget it: a later start
            # registers one of its own (listeners apply to the clients created after them).
            instrumentor._commandtracer_instance = None

        self._undo.append(undo)

    def _instrument_aiobotocore(self) -> None:
        try:
            from aiobotocore.client import AioBaseClient
        except ImportError:
            return

        original = vars(AioBaseClient)["_make_api_call"]
        if getattr(original, "_traced", False):
            return
        tracer = self.tracer_provider.get_tracer(__name__)

        @functools.wraps(original)
        async def make_api_call(client: Any, operation_name: str, api_params: Any) -> Any:
            service = client.meta.service_model.service_id
            attributes: dict[str, Any] = {
                "rpc.system": "aws-api",
                "rpc.service": str(service),
                "rpc.method": operation_name,
                "cloud.region": client.meta.region_name or "",
            }
            if isinstance(api_params, dict) and isinstance(api_params.get("TableName"), str):
                attributes["aws.dynamodb.table_names"] = [api_params["TableName"]]
            if isinstance(api_params, dict) and isinstance(api_params.get("Bucket"), str):
                attributes["aws.s3.bucket"] = api_params["Bucket"]
            with tracer.start_as_current_span(
                f"{service}.{operation_name}", kind=SpanKind.CLIENT, attributes=attributes
            ) as span:
                try:
                    result = await original(client, operation_name, api_params)
                except Exception as exc:
                    _set_aws_response(span, getattr(exc, "response", None))
                    raise
                _set_aws_response(span, result)
                return result

        make_api_call._traced = True  # type: ignore[attr-defined]
        setattr(AioBaseClient, "_make_api_call", make_api_call)  # noqa: B010
        self._undo.append(lambda: setattr(AioBaseClient, "_make_api_call", original))


def _set_aws_response(span: trace.Span, response: Any) -> None:
    metadata = response.get("ResponseMetadata") if isinstance(response, dict) else None
    if not isinstance(metadata, dict):
        return
    if metadata.get("RequestId"):
        span.set_attribute("aws.request_id", str(metadata["RequestId"]))
    if isinstance(metadata.get("HTTPStatusCode"), int):
        span.set_attribute("http.response.status_code", metadata["HTTPStatusCode"])
