"""The one place that wires the gateway process together (`sentiment gateway`).

`GatewayServer` builds the Triton client, the core service, the grpc.aio server with the
error interceptor, grpc.health.v1 (Triton readiness and the audit path), optional
reflection, and the Prometheus exporter. Everything is created inside the running loop.
`stop()` is the graceful path SIGTERM takes: NOT_SERVING, refuse new calls, let in-flight
calls finish within the grace period, then close the audit log (flushing its spool).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from api.generated.sentiment.v1 import sentiment_pb2 as pb
from config.settings import PipelineSettings
from gateway.core.auth import Authenticator
from gateway.core.contracts import (
    AuditLog,
    DriftSink,
    KeyStore,
    RolloutState,
    RolloutStore,
    ShadowSink,
)
from gateway.core.ratelimit import InFlightLimiter, KeyedInFlightLimiter, TokenBucketLimiter
from gateway.core.rollout import Guardrail, GuardrailSettings, RolloutFollower
from gateway.core.service import PredictionService, RefusalHold, StreamLimits
from gateway.core.shadow import DROPPED, ERROR, ShadowCall, ShadowRunner
from gateway.core.text import TextAnalyzer
from gateway.core.validation import Limits
from gateway.metrics import GatewayMetrics, PersistenceReadings
from gateway.settings import DRIFT_CLOSE_SECONDS, ApiKeySettings, AuditSettings, GatewaySettings
from gateway.transport.interceptor import ErrorInterceptor
from gateway.transport.servicer import SentimentServicer
from gateway.upstream.triton_client import RetryAfter, TritonClient
from store.settings import DatabaseSettings
from telemetry import tracing

if TYPE_CHECKING:
    from gateway.persistence.audit import SpooledAuditLog
    from gateway.persistence.drift import SqlDriftSink
    from gateway.persistence.keys import ApiKeyStore

log = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["SentimentService"].full_name
HEALTH_SERVICES = ("", SERVICE_NAME)
RECEIVE_SLACK_BYTES = 64 * 1024
"""How far over `max_message_bytes` a message is still received, to be refused with
field details rather than by gRPC's own size check."""
STATEMENT_TIMEOUT_S = 10.0
"""Longest a gateway statement or lock wait may take on PostgreSQL (its writes are small
batches; a longer one means a hung or locked server, and the writers retry)."""


@dataclass
class Persistence:
    """What the gateway needs of persistence (see gateway.core.contracts)."""

    keys: KeyStore
    audit: AuditLog
    drift: DriftSink
    should_sample: Callable[[str], bool]
    close: Callable[[], Awaitable[Any]]
    """Flush and close (the audit log's spool first)."""
    readings: PersistenceReadings
    """Spool depth, write lag and failure counters, for the metrics."""
    rollouts: RolloutStore
    shadow: ShadowSink


async def open_persistence(
    database: DatabaseSettings,
    audit_settings: AuditSettings,
    api_keys: ApiKeySettings,
    drift_sample_rate: float,
) -> Persistence:
    """Database (migrated to head), durable audit log, key store and drift sink."""
    from sqlalchemy.exc import OperationalError

    from gateway.persistence.audit import SpooledAuditLog
    from gateway.persistence.drift import SqlDriftSink, should_sample
    from gateway.persistence.keys import ApiKeyStore
    from gateway.persistence.rollouts import SqlRolloutStore, SqlShadowSink
    from store.engine import make_engine
    from store.migrate import upgrade_database

    engine = make_engine(
        database.resolved_url(),
        iam_auth=database.iam_auth,
        statement_timeout_s=STATEMENT_TIMEOUT_S,
    )
    try:
        if database.migrate_on_start:
            await asyncio.to_thread(upgrade_database, engine)
    except OperationalError as error:
        # Serve anyway: calls are spooled, keys come from the last snapshot, and the
        # writer retries until the database (migrated by whoever reaches it) is back.
        log.warning("database unreachable at start (%s): serving from the spool", error.orig)
    audit = await SpooledAuditLog.open(
        engine,
        audit_settings.resolved_spool_dir(),
        instance_id=audit_settings.resolved_instance_id(),
        lease_ttl_s=audit_settings.lease_ttl_s,
        recovery_interval_s=audit_settings.recovery_interval_s,
        max_bytes=audit_settings.spool_max_bytes,
        segment_bytes=audit_settings.segment_bytes,
        resume_ratio=audit_settings.spool_resume_ratio,
        batch_records=audit_settings.batch_records,
        retry_initial_s=audit_settings.retry_initial_s,
        retry_max_s=audit_settings.retry_max_s,
        store_text=audit_settings.store_text,
        write_interval_s=audit_settings.write_interval_s,
    )
    keys = ApiKeyStore(
        engine,
        pepper=api_keys.pepper_bytes(),
        refresh_interval_s=api_keys.refresh_interval_s,
        stale_ttl_s=api_keys.stale_ttl_s,
        snapshot_file=api_keys.resolved_snapshot_file(),
    )
    await keys.start()  # the database, or the last snapshot when it is unreachable
    drift = SqlDriftSink(engine)
    shadow = SqlShadowSink(engine)

    async def close() -> None:
        await keys.close()
        await asyncio.gather(drift.close(DRIFT_CLOSE_SECONDS), shadow.close(DRIFT_CLOSE_SECONDS))
        if not await audit.close(audit_settings.close_timeout_s):
            log.warning("audit spool not fully flushed; it is replayed on the next start")
        engine.dispose()

    return Persistence(
        keys=keys,
        audit=audit,
        drift=drift,
        should_sample=lambda request_id: should_sample(request_id, drift_sample_rate),
        close=close,
        readings=persistence_readings(audit, drift, keys, audit_settings.spool_max_bytes),
        rollouts=SqlRolloutStore(engine),
        shadow=shadow,
    )


def persistence_readings(
    audit: SpooledAuditLog, drift: SqlDriftSink, keys: ApiKeyStore, spool_max_bytes: int
) -> PersistenceReadings:
    """The audit log's, drift sink's and key store's state and counters, as the metrics
    read them."""
    return PersistenceReadings(
        key_table_age=lambda: keys.table_age_s,
        key_refresh_failures=lambda: keys.refresh_failures,
        keys_from_snapshot=lambda: float(keys.from_snapshot),
        spool_depth=lambda: audit.spool_depth_records,
        spool_bytes=lambda: audit.spool_depth_bytes,
        spool_max_bytes=lambda: spool_max_bytes,
        write_lag=lambda: audit.write_lag_s,
        audit_dead_lettered=lambda: audit.records_refused,
        audit_quarantined=lambda: audit.records_quarantined,
        audit_write_errors=lambda: audit.write_errors,
        audit_file_errors=lambda: audit.file_errors,
        audit_orphan_records=lambda: audit.orphan_records,
        drift_dropped=lambda: drift.dropped,
        drift_outages=lambda: drift.breaker.opened,
    )


def sentiment_handler(
    servicer: SentimentServicer, errors: ErrorInterceptor
) -> grpc.GenericRpcHandler:
    """SentimentService's handlers, wrapped by `errors`; they get request bytes (the
    servicer decodes them once the caller is authenticated: see gateway.core.service)."""
    handlers = {
        "Predict": grpc.unary_unary_rpc_method_handler(
            servicer.Predict, response_serializer=pb.PredictResponse.SerializeToString
        ),
        "PredictBatch": grpc.unary_unary_rpc_method_handler(
            servicer.PredictBatch, response_serializer=pb.PredictBatchResponse.SerializeToString
        ),
        "PredictStream": grpc.stream_stream_rpc_method_handler(
            servicer.PredictStream,
            response_serializer=pb.PredictStreamResponse.SerializeToString,
        ),
    }
    return grpc.method_handlers_generic_handler(SERVICE_NAME, errors.wrap(handlers))


def server_credentials(settings: GatewaySettings) -> grpc.ServerCredentials | None:
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return None
    ca = settings.tls_client_ca_file.read_bytes() if settings.tls_client_ca_file else None
    return grpc.ssl_server_credentials(
        [(settings.tls_key_file.read_bytes(), settings.tls_cert_file.read_bytes())],
        root_certificates=ca,
        require_client_auth=ca is not None,
    )


class GatewayServer:
    """The gateway process: gRPC server, health, metrics; `start()` then `stop()`."""

    def __init__(
        self,
        settings: GatewaySettings,
        persistence: Persistence,
        analyzer: TextAnalyzer,
        metrics: GatewayMetrics | None = None,
        serve_metrics: bool = True,
    ) -> None:
        self.settings = settings
        self.persistence = persistence
        self.analyzer = analyzer
        self.metrics = metrics or GatewayMetrics()
        self._serve_metrics = serve_metrics
        self.port = 0
        self.metrics_port: int | None = None
        self._stopping = False

    async def start(self) -> None:
        s = self.settings
        # OTEL_* variables; off (None) unless an OTLP endpoint is set: docs/tracing.md
        self.tracing = tracing.start_tracing("sentiment-gateway")
        self.triton = TritonClient(
            s.triton.grpc_address,
            retries=s.triton_retries,
            backoff=s.triton_retry_backoff_seconds,
            margin=s.triton_deadline_margin_seconds,
            info_ttl=s.model_info_ttl_seconds,
            retry_after=RetryAfter(
                s.triton_overloaded_retry_after_seconds, s.triton_unavailable_retry_after_seconds
            ),
            keepalive=s.triton_keepalive_seconds,
            keepalive_timeout=s.triton_keepalive_timeout_seconds,
            channel_max_age=s.triton_channel_max_age_seconds,
            observe=self.metrics.triton_observer(),
        )
        max_tokens = min(s.max_tokens or self.analyzer.max_length, self.analyzer.max_length)
        p = self.persistence
        self.rollout = self._rollout_follower()
        self.shadow = ShadowRunner(
            self.triton,
            p.shadow,
            self.analyzer.labels,
            max_queued=s.shadow_queue_size,
            workers=s.shadow_workers,
            timeout_s=s.shadow_timeout_seconds,
            on_outcome=self._shadow_outcome,
        )
        self.service = PredictionService(
            limits=Limits(s.max_text_chars, max_tokens, s.max_batch_texts, tuple(s.models)),
            analyzer=self.analyzer,
            authenticator=Authenticator(p.keys),
            rate_limiter=TokenBucketLimiter(s.rate_limit_per_second, s.rate_limit_burst),
            refusal_limiter=TokenBucketLimiter(
                s.refusals_per_second_per_peer, s.refusal_burst_per_peer
            ),
            refusal_hold=RefusalHold(s.refusal_hold_max_seconds, s.refusal_hold_max_calls),
            in_flight=InFlightLimiter(s.max_in_flight, self.metrics.in_flight.set),
            key_in_flight=KeyedInFlightLimiter(s.max_in_flight_per_key),
            stream_limits=StreamLimits(
                s.stream_idle_timeout_seconds, s.stream_max_lifetime_seconds, s.stream_max_messages
            ),
            triton=self.triton,
            audit=p.audit,
            drift=p.drift,
            should_sample=p.should_sample,
            labels=self.analyzer.labels,
            default_timeout=s.default_timeout_seconds,
            on_drift_sample=self.metrics.drift_samples.inc,
            rollout=self.rollout,
            shadow=self.shadow,
            on_version_call=self.metrics.version_call,
        )
        await self.rollout.start()
        self.metrics.watch_persistence(p.readings)
        self.server = grpc.aio.server(
            options=[
                # Our decoder answers a message over the limit with details; gRPC itself
                # refuses (and never buffers) one more than a little over it.
                ("grpc.max_receive_message_length", s.max_message_bytes + RECEIVE_SLACK_BYTES),
                ("grpc.max_send_message_length", 4 * s.max_message_bytes),
                ("grpc.max_concurrent_streams", s.max_concurrent_streams),
            ],
        )
        servicer = SentimentServicer(self.service, s.max_message_bytes)
        errors = ErrorInterceptor(self.metrics)
        self.server.add_generic_rpc_handlers((sentiment_handler(servicer, errors),))
        self.health = HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        if s.reflection:
            reflection.enable_server_reflection(
                (
                    SERVICE_NAME,
                    health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                    reflection.SERVICE_NAME,
                ),
                self.server,
            )
        address = f"{s.host}:{s.port}"
        credentials = server_credentials(s)
        if credentials is None:
            self.port = self.server.add_insecure_port(address)
        else:
            self.port = self.server.add_secure_port(address, credentials)
        await self.update_health()
        await self.server.start()
        self._health_task = asyncio.create_task(self._watch_health())
        if self._serve_metrics:
            self.metrics_port = self.metrics.serve(s.host, s.metrics_port)
        log.info(
            "gateway listening on %s:%d (metrics %s), Triton at %s",
            s.host,
            self.port,
            self.metrics_port,
            s.triton.grpc_address,
        )

    def _rollout_follower(self) -> RolloutFollower:
        s, models = self.settings, self.settings.models
        guardrail = Guardrail(
            GuardrailSettings(
                enabled=s.guardrail_enabled,
                window_s=s.guardrail_window_seconds,
                min_calls=s.guardrail_min_calls,
                error_margin=s.guardrail_error_margin,
                latency_margin_ms=s.guardrail_latency_margin_ms,
            )
        )

        def on_state(state: RolloutState) -> None:
            served = "" if state.served is None else str(state.served)
            candidate = "" if state.candidate is None else str(state.candidate)
            self.metrics.rollout_state(models, served, candidate, state.mode, state.candidate_share)

        def on_guardrail(state: RolloutState, reason: str) -> None:
            for model in models:
                self.metrics.guardrail_rollbacks.labels(model).inc()

        return RolloutFollower(
            self.persistence.rollouts, guardrail, s.rollout_poll_seconds, on_state, on_guardrail
        )

    def _shadow_outcome(self, call: ShadowCall, outcome: str, seconds: float) -> None:
        self.metrics.shadow_calls.labels(call.model, call.candidate, outcome).inc()
        if outcome != DROPPED:
            self.rollout.record(call.candidate, outcome != ERROR, seconds)

    async def update_health(self) -> bool:
        """Set SERVING when Triton's default model is ready and the audit log accepts."""
        serving = (
            not self._stopping
            and self.persistence.audit.accepting
            and await self.triton.ready(self.settings.default_model)
        )
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in HEALTH_SERVICES:
            await self.health.set(name, status)
        return serving

    async def _watch_health(self) -> None:
        while not self._stopping:
            try:
                await self.update_health()
            except Exception:
                log.exception("health check failed")
            await asyncio.sleep(self.settings.health_poll_seconds)

    async def stop(self, grace: float | None = None) -> None:
        """NOT_SERVING, drain in-flight calls for `grace` seconds, close everything."""
        if self._stopping:
            return
        self._stopping = True
        self._health_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._health_task
        await self.health.enter_graceful_shutdown()
        grace = self.settings.drain_seconds if grace is None else grace
        log.info("gateway stopping: draining in-flight calls for up to %.1fs", grace)
        await self.server.stop(grace)
        await self.rollout.close()
        await self.shadow.close()
        await self.service.close()
        await self.persistence.close()
        await self.triton.close()
        self.metrics.stop()
        if self.tracing is not None:  # export the spans still queued
            await asyncio.to_thread(self.tracing.shutdown)
        log.info("gateway stopped")

    async def wait(self) -> None:
        await self.server.wait_for_termination()


GC_THRESHOLDS = (20_000, 20, 20)
"""The cyclic collector's thresholds once the gateway serves (Python's: 700, 10, 10). A
call allocates a few hundred objects and leaves no cycles, so a young collection every
couple of calls bought nothing: it was 2-3 % of the event loop's time."""


def settle_garbage_collector() -> None:
    """Keep what start-up built (settings, tokenizer, protobuf descriptors, grpc) out of
    every later collection (`gc.freeze`), and collect the young generation less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def serve_until_signalled(server: GatewayServer) -> None:
    """Run `server` until SIGTERM or SIGINT, then stop it gracefully."""
    await server.start()
    settle_garbage_collector()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await server.stop()


def serve_gateway(pipeline: PipelineSettings | None = None, **overrides: Any) -> int:
    """Build the gateway from its settings (plus `overrides` of GatewaySettings fields) and
    serve until signalled; 0 after a graceful stop.

    A missing or invalid setting, or no tokenizer to serve with, raises ConfigurationError
    before anything starts (the CLI's error boundary prints it as one line).
    """
    settings = GatewaySettings(**overrides)
    database, audit, api_keys = DatabaseSettings(), AuditSettings(), ApiKeySettings()
    pipeline = pipeline or PipelineSettings()
    analyzer = (
        TextAnalyzer.from_dir(settings.tokenizer_dir)
        if settings.tokenizer_dir
        else TextAnalyzer.from_repository(Path(pipeline.repository_path()))
    )
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )

    async def main() -> None:
        persistence = await open_persistence(database, audit, api_keys, settings.drift_sample_rate)
        await serve_until_signalled(GatewayServer(settings, persistence, analyzer))

    run_event_loop(main())
    return 0


def run_event_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run `main` on uvloop when it is installed (less CPU per call), else on asyncio's loop.

    grpc.aio polls its completion queue from its own thread and wakes the loop through a
    socket, so it runs on any event loop implementation.
    """
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    uvloop.run(main)
