//! Layer job queues. Jobs are acknowledged only after their result is in the cache, so a worker killed
//! mid-layer loses nothing: the broker redelivers the job. Attempts are counted in a message header; a job
//! that keeps failing is moved to a dead-letter queue instead of looping forever. A job's trace context
//! travels in the W3C `traceparent` message header as well as in the job itself, so broker-side tooling
//! sees it too.
//!
//! A broker restart is survived: the RabbitMQ connection recovers by itself (lapin's auto-recovery
//! reconnects and replays the queues, the consumer, its prefetch and publisher confirms), a publish that
//! failed meanwhile is sent again once the connection is back, and a consumer waits for it. Deliveries
//! taken before the restart cannot be acknowledged any more; the broker redelivers them, and a worker
//! answers those from the cache.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    QueueDeclareOptions, QueuePurgeOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use tokio::sync::mpsc;

use crate::queue_type::QueueArgs;
use crate::tls::TlsFiles;
use crate::{FleetError, LayerJob, Result, codec};

const ATTEMPTS_HEADER: &str = "x-strata-attempts";
/// Reconnection attempts after the broker went away: up to 5 s apart, for about ten minutes.
const RECONNECT_ATTEMPTS: usize = 120;
/// Sends of one job, each after the connection recovered from the failure of the one before.
const PUBLISH_TRIES: usize = 5;

#[async_trait]
pub trait JobQueue: Send + Sync + 'static {
    /// Publishes a job durably (returns once the broker confirmed it). `attempts` counts earlier tries.
    async fn publish(&self, job: &LayerJob, attempts: u32) -> Result<()>;
    /// Starts consuming with at most `prefetch` unacknowledged jobs in flight.
    async fn consume(&self, prefetch: u16) -> Result<Box<dyn JobStream>>;
    /// Moves a job that failed for good to the dead-letter queue.
    async fn dead_letter(&self, job: &LayerJob, attempts: u32, reason: &str) -> Result<()>;
    /// Jobs waiting (not counting those delivered and unacknowledged).
    async fn depth(&self) -> Result<u32>;
    /// Whether the broker connection is up (readiness).
    async fn ping(&self) -> Result<()> {
        self.depth().await.map(|_| ())
    }
}

#[async_trait]
pub trait JobStream: Send {
    async fn next(&mut self) -> Option<Result<Delivery>>;
}

/// A delivered job; it must end with [`Delivery::ack`] or [`Delivery::requeue`].
pub struct Delivery {
    pub job: LayerJob,
    /// Tries before this one (0 on the first delivery; a redelivery after a crash keeps the count).
    pub attempts: u32,
    pub redelivered: bool,
    acker: Acker,
}

enum Acker {
    Rabbit(lapin::Acker),
    Memory,
}

impl Delivery {
    pub async fn ack(self) -> Result<()> {
        match self.acker {
            Acker::Rabbit(acker) => {
                acker.ack(BasicAckOptions::default()).await?;
                Ok(())
            }
            Acker::Memory => Ok(()),
        }
    }

    /// Puts the job back for another worker (used when shutting down mid-job).
    pub async fn requeue(self, queue: &dyn JobQueue) -> Result<()> {
        match self.acker {
            Acker::Rabbit(acker) => {
                acker.nack(BasicNackOptions { requeue: true, ..Default::default() }).await?;
                Ok(())
            }
            Acker::Memory => queue.publish(&self.job, self.attempts).await,
        }
    }
}

/// RabbitMQ: a durable queue `name` and its dead-letter queue `name.dlq`.
pub struct RabbitQueue {
    connection: Connection,
    publisher: Channel,
    name: String,
}

impl RabbitQueue {
    /// A classic queue over a connection that trusts the system's roots (tests, tools).
    pub async fn connect(url: &str, name: &str) -> Result<Self> {
        Self::connect_with(url, name, &TlsFiles::default(), &QueueArgs::default()).await
    }

    /// Connects (`amqps://` with `tls`) and declares the job queue and its dead-letter queue as `kind` says.
    pub async fn connect_with(url: &str, name: &str, tls: &TlsFiles, kind: &QueueArgs) -> Result<Self> {
        let properties = ConnectionProperties::default().enable_auto_recover().configure_backoff(|b| {
            b.with_min_delay(Duration::from_millis(200))
                .with_max_delay(Duration::from_secs(5))
                .with_max_times(RECONNECT_ATTEMPTS)
        });
        let tls_config = crate::tls::amqp_config(url, tls)?;
        crate::tls::amqp_probe(url, tls, &tls_config).await?;
        let runtime = lapin::runtime::default_runtime()?;
        let connection = Connection::connect_with_config(url, properties, tls_config, runtime)
            .await
            .map_err(|e| crate::tls::amqp_connect_error(url, tls, &e))?;
        let publisher = connection.create_channel().await?;
        publisher.confirm_select(ConfirmSelectOptions::default()).await?;
        let dead_letters = format!("{name}.dlq");
        // The dead-letter queue first: a quorum queue's dead-lettering needs its target.
        for (queue, arguments) in
            [(dead_letters.clone(), kind.dead_letter_queue()), (name.to_string(), kind.job_queue(&dead_letters))]
        {
            publisher
                .queue_declare(
                    ShortString::from(queue.as_str()),
                    QueueDeclareOptions { durable: true, ..Default::default() },
                    arguments,
                )
                .await
                .map_err(|e| kind.declare_error(&queue, e))?;
        }
        Ok(RabbitQueue { connection, publisher, name: name.to_string() })
    }

    /// Publishes and waits for the broker's confirmation; a failure caused by a lost connection waits for
    /// it to recover and sends again (a job confirmed twice is harmless: the second costs one cache read).
    async fn publish_to(&self, queue: &str, job: &LayerJob, attempts: u32, reason: Option<&str>) -> Result<()> {
        let mut tries = 0;
        loop {
            tries += 1;
            match self.publish_once(queue, job, attempts, reason).await {
                Ok(confirmation) if confirmation.is_nack() => {
                    return Err(FleetError::Queue(format!("the broker refused job {} on {queue}", job.digest)));
                }
                Ok(_) => return Ok(()),
                Err(e) if tries < PUBLISH_TRIES => {
                    tracing::warn!(layer = %job.digest, error = %e, "publishing a job failed; waiting for the broker");
                    self.publisher.wait_for_recovery(e).await?;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    async fn publish_once(
        &self,
        queue: &str,
        job: &LayerJob,
        attempts: u32,
        reason: Option<&str>,
    ) -> lapin::Result<lapin::Confirmation> {
        let mut headers = FieldTable::default();
        headers.insert(ShortString::from(ATTEMPTS_HEADER), AMQPValue::LongUInt(attempts));
        if let Some(reason) = reason {
            headers.insert(ShortString::from("x-strata-reason"), AMQPValue::LongString(reason.into()));
        }
        if !job.traceparent.is_empty() {
            headers.insert(
                ShortString::from(crate::telemetry::TRACEPARENT),
                AMQPValue::LongString(job.traceparent.as_str().into()),
            );
        }
        let properties = BasicProperties::default().with_delivery_mode(2).with_headers(headers);
        self.publisher
            .basic_publish(
                ShortString::from(""),
                ShortString::from(queue),
                BasicPublishOptions::default(),
                &codec::encode_job(job),
                properties,
            )
            .await?
            .await
    }

    /// Empties both queues (tests and `strata-loadtest` between runs).
    pub async fn purge(&self) -> Result<()> {
        for queue in [self.name.clone(), format!("{}.dlq", self.name)] {
            self.publisher.queue_purge(ShortString::from(queue), QueuePurgeOptions::default()).await?;
        }
        Ok(())
    }

    /// Jobs in the dead-letter queue.
    pub async fn dead_letters(&self) -> Result<u32> {
        let q = self
            .publisher
            .queue_declare(
                ShortString::from(format!("{}.dlq", self.name)),
                QueueDeclareOptions { durable: true, passive: true, ..Default::default() },
                FieldTable::default(),
            )
            .await?;
        Ok(q.message_count())
    }
}

#[async_trait]
impl JobQueue for RabbitQueue {
    async fn publish(&self, job: &LayerJob, attempts: u32) -> Result<()> {
        self.publish_to(&self.name, job, attempts, None).await
    }

    async fn consume(&self, prefetch: u16) -> Result<Box<dyn JobStream>> {
        let channel = self.connection.create_channel().await?;
        channel.basic_qos(prefetch, BasicQosOptions::default()).await?;
        let consumer = channel
            .basic_consume(
                ShortString::from(self.name.clone()),
                ShortString::from(""),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        Ok(Box::new(RabbitStream { channel, consumer }))
    }

    async fn dead_letter(&self, job: &LayerJob, attempts: u32, reason: &str) -> Result<()> {
        // A lent pull token is for running the job, not for keeping in a durable queue.
        let job = LayerJob { pull_token: String::new(), ..job.clone() };
        self.publish_to(&format!("{}.dlq", self.name), &job, attempts, Some(reason)).await
    }

    async fn depth(&self) -> Result<u32> {
        let q = self
            .publisher
            .queue_declare(
                ShortString::from(self.name.clone()),
                QueueDeclareOptions { durable: true, passive: true, ..Default::default() },
                FieldTable::default(),
            )
            .await?;
        Ok(q.message_count())
    }
}

struct RabbitStream {
    channel: Channel,
    consumer: lapin::Consumer,
}

#[async_trait]
impl JobStream for RabbitStream {
    async fn next(&mut self) -> Option<Result<Delivery>> {
        let delivery = loop {
            match self.consumer.next().await? {
                Ok(d) => break d,
                // The connection dropped: once it has recovered, the consumer delivers again.
                Err(e) => {
                    tracing::warn!(error = %e, "lost the broker; waiting for the connection to recover");
                    if let Err(e) = self.channel.wait_for_recovery(e).await {
                        return Some(Err(e.into()));
                    }
                }
            }
        };
        let header = |name: &str| delivery.properties.headers().as_ref().and_then(|h| h.inner().get(name).cloned());
        let attempts = header(ATTEMPTS_HEADER)
            .and_then(|v| match v {
                AMQPValue::LongUInt(n) => Some(n),
                AMQPValue::LongLongInt(n) => u32::try_from(n).ok(),
                AMQPValue::LongInt(n) => u32::try_from(n).ok(),
                _ => None,
            })
            .unwrap_or(0);
        let traceparent = header(crate::telemetry::TRACEPARENT).and_then(|v| match v {
            AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
            AMQPValue::ShortString(s) => Some(s.as_str().to_string()),
            _ => None,
        });
        let redelivered = delivery.redelivered;
        match codec::decode_job(&delivery.data) {
            Ok(mut job) => {
                // A publisher that only sets the standard header (not the job field) is traced too.
                if let Some(traceparent) = traceparent.filter(|t| crate::telemetry::is_valid_traceparent(t)) {
                    job.traceparent = traceparent;
                }
                Some(Ok(Delivery { job, attempts, redelivered, acker: Acker::Rabbit(delivery.acker) }))
            }
            Err(e) => {
                // A message we cannot read can never succeed: drop it rather than loop on it.
                let _ = delivery.acker.ack(BasicAckOptions::default()).await;
                Some(Err(e))
            }
        }
    }
}

/// In-process queue for local mode: the same worker code consumes it.
#[derive(Clone)]
pub struct MemoryQueue {
    sender: mpsc::UnboundedSender<(LayerJob, u32)>,
    receiver: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<(LayerJob, u32)>>>,
    dead: Arc<Mutex<Vec<(LayerJob, String)>>>,
}

impl Default for MemoryQueue {
    fn default() -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        MemoryQueue { sender, receiver: Arc::new(tokio::sync::Mutex::new(receiver)), dead: Arc::default() }
    }
}

impl MemoryQueue {
    pub fn dead_letters(&self) -> Vec<(LayerJob, String)> {
        self.dead.lock().map(|d| d.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl JobQueue for MemoryQueue {
    async fn publish(&self, job: &LayerJob, attempts: u32) -> Result<()> {
        self.sender.send((job.clone(), attempts)).map_err(|_| FleetError::Closed)
    }

    async fn consume(&self, _prefetch: u16) -> Result<Box<dyn JobStream>> {
        Ok(Box::new(MemoryStream { receiver: self.receiver.clone() }))
    }

    async fn dead_letter(&self, job: &LayerJob, _attempts: u32, reason: &str) -> Result<()> {
        if let Ok(mut dead) = self.dead.lock() {
            dead.push((job.clone(), reason.to_string()));
        }
        Ok(())
    }

    async fn depth(&self) -> Result<u32> {
        Ok(self.receiver.try_lock().map(|r| r.len() as u32).unwrap_or(0))
    }
}

struct MemoryStream {
    receiver: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<(LayerJob, u32)>>>,
}

#[async_trait]
impl JobStream for MemoryStream {
    async fn next(&mut self) -> Option<Result<Delivery>> {
        let (job, attempts) = self.receiver.lock().await.recv().await?;
        Some(Ok(Delivery { job, attempts, redelivered: false, acker: Acker::Memory }))
    }
}
