//! Logs and traces of the fleet binaries (and of `strata submit`).
//!
//! Logs: `tracing` events, levels from `RUST_LOG` (default `info`), JSON lines when stderr is not a
//! terminal, text when it is. Traces: when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, the spans of Strata's own code are exported in batches
//! over OTLP/gRPC by the OpenTelemetry SDK, which also reads the other standard `OTEL_*` variables
//! (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`, `OTEL_BSP_*`, …). Unset, there
//! is no OpenTelemetry layer at all: nothing is built, buffered or sent.
//!
//! The trace context crosses processes as a W3C `traceparent` string — gRPC metadata, the scan record,
//! layer jobs and their RabbitMQ headers, DefectDojo outbox entries: [`traceparent`] writes one for a
//! span, [`set_parent`] makes a span the child of one.
//!
//! Not here: metrics (Prometheus, [`crate::ops`]) and exporting logs over OTLP.

use std::collections::HashMap;
use std::time::Duration;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use tracing::Subscriber;
use tracing_opentelemetry::{OpenTelemetryLayer, OpenTelemetrySpanExt};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{Filtered, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// The W3C header (and field) name.
pub const TRACEPARENT: &str = "traceparent";

/// How long flushing may hold up a process's exit when the collector is slow or gone.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("OpenTelemetry trace exporter: {0}")]
    Exporter(String),
    #[error(
        "OpenTelemetry: {0}: OTLP over TLS is not supported; send to a collector's plain gRPC port \
         (http://…, e.g. a collector running beside the fleet)"
    )]
    Tls(String),
    #[error("logging is already set up in this process")]
    AlreadyInitialised,
}

/// The OpenTelemetry layer, limited to Strata's own spans (the exporter's gRPC client must not trace
/// itself, and dependencies' spans would only add cost).
pub type OtelLayer<S> = Filtered<OpenTelemetryLayer<S, SdkTracer>, Targets, S>;

/// Keeps the tracer provider; dropping it exports the spans still buffered and shuts the exporter down.
/// Drop it while the Tokio runtime that was current at [`layer`] still runs (after `block_on` returns,
/// before the runtime is dropped): the exporter's connection lives on that runtime.
#[must_use = "dropping the guard stops exporting spans"]
#[derive(Default)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    pub fn is_exporting(&self) -> bool {
        self.provider.is_some()
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(e) = provider.shutdown_with_timeout(FLUSH_TIMEOUT)
        {
            // The subscriber may be gone by now: stderr is the one place left to say it.
            eprintln!("OpenTelemetry: spans may be lost: {e}");
        }
    }
}

/// The OTLP endpoint traces go to, when the environment asks for traces (and the SDK is not disabled).
pub fn endpoint() -> Option<String> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let disabled = var("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
        || var("OTEL_TRACES_EXPORTER").is_some_and(|v| v.trim().eq_ignore_ascii_case("none"));
    if disabled {
        return None;
    }
    var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or_else(|| var("OTEL_EXPORTER_OTLP_ENDPOINT"))
}

/// The OpenTelemetry layer for a process named `service` (unless `OTEL_SERVICE_NAME` or
/// `service.name` in `OTEL_RESOURCE_ATTRIBUTES` names it otherwise) and its guard; `None` and an empty
/// guard when traces are not configured. Call it inside a Tokio runtime context.
pub fn layer<S>(service: &str) -> Result<(Option<OtelLayer<S>>, Telemetry), TelemetryError>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let Some(endpoint) = endpoint() else { return Ok((None, Telemetry::default())) };
    if endpoint.trim().to_ascii_lowercase().starts_with("https://") {
        return Err(TelemetryError::Tls(endpoint));
    }
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .build()
        .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
    let provider = SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource(service)).build();
    let tracer = provider.tracer("strata");
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_threads(false)
        .with_filter(Targets::new().with_target("strata", tracing::Level::INFO));
    Ok((Some(layer), Telemetry { provider: Some(provider) }))
}

/// The resource attribute OpenTelemetry's semantic conventions name the service by.
const SERVICE_NAME: &str = "service.name";

fn resource(service: &str) -> Resource {
    let detected = Resource::builder().build();
    // The SDK falls back to "unknown_service:<executable>" when the environment names no service.
    let named = detected
        .get(&opentelemetry::Key::new(SERVICE_NAME))
        .is_some_and(|name| !name.as_str().starts_with("unknown_service"));
    if named { detected } else { Resource::builder().with_service_name(service.to_string()).build() }
}

/// Logging and traces for the fleet binaries: the fmt layer (JSON lines when stderr is not a terminal,
/// log collectors parse them) filtered by `RUST_LOG` (default `info`), plus the OpenTelemetry layer when
/// configured. Call it inside a Tokio runtime context and keep the guard until the runtime's work is done.
pub fn init(service: &str) -> Result<Telemetry, TelemetryError> {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = if std::io::stderr().is_terminal() { fmt.boxed() } else { fmt.json().boxed() };
    let registry = tracing_subscriber::registry().with(fmt.with_filter(filter));
    let (otel, guard) = layer(service)?;
    registry.with(otel).try_init().map_err(|_| TelemetryError::AlreadyInitialised)?;
    Ok(guard)
}

/// The W3C `traceparent` of `span`, when it is exported (an OpenTelemetry layer is installed and the
/// span is enabled and sampled).
pub fn traceparent(span: &tracing::Span) -> Option<String> {
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.remove(TRACEPARENT)
}

/// [`traceparent`] of the current span.
pub fn current_traceparent() -> Option<String> {
    traceparent(&tracing::Span::current())
}

/// Whether `value` is a W3C `traceparent` (what [`set_parent`] would accept).
pub fn is_valid_traceparent(value: &str) -> bool {
    extract(value).span().span_context().is_valid()
}

fn extract(value: &str) -> opentelemetry::Context {
    let carrier = HashMap::from([(TRACEPARENT.to_string(), value.trim().to_string())]);
    TraceContextPropagator::new().extract(&carrier)
}

/// Makes `span` a child of the remote span `traceparent` (ignored when empty or malformed, or when no
/// OpenTelemetry layer is installed). Call it before the span is first entered. Also records the trace
/// id in the span's `trace_id` field, if it declares one, so that log lines inside carry it.
pub fn set_parent(span: &tracing::Span, traceparent: &str) {
    if !traceparent.is_empty() {
        let parent = extract(traceparent);
        if parent.span().span_context().is_valid() {
            let _ = span.set_parent(parent);
        }
    }
    record_trace_id(span);
}

/// Records the span's trace id in its `trace_id` field (a no-op without one, or when not exporting).
pub fn record_trace_id(span: &tracing::Span) {
    let context = span.context();
    let span_context = context.span().span_context().clone();
    if span_context.is_valid() {
        span.record("trace_id", tracing::field::display(span_context.trace_id()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparents_are_validated() {
        assert!(is_valid_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
        assert!(!is_valid_traceparent(""));
        assert!(!is_valid_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01"));
        assert!(!is_valid_traceparent("not a traceparent"));
    }

    #[test]
    fn without_a_layer_spans_have_no_traceparent() {
        // No subscriber with an OpenTelemetry layer: nothing to propagate, and nothing breaks.
        let span = tracing::info_span!("scan", trace_id = tracing::field::Empty);
        set_parent(&span, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        assert_eq!(traceparent(&span), None);
    }
}
