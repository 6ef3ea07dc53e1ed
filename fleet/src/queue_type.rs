//! Which kind of RabbitMQ queue holds the layer jobs. Classic (the default, what earlier releases
//! declared) or quorum: replicated by Raft across the cluster's nodes, the queue type that survives a node
//! loss on RabbitMQ 4, where classic mirroring is gone.
//!
//! A quorum queue also counts deliveries: a job returned more than the delivery limit times (its worker
//! died or gave it back each time) is dead-lettered by the broker into `<queue>.dlq`, the same queue the
//! worker moves a job to after `STRATA_MAX_ATTEMPTS` failures. The worker's count acts first (the
//! default limit is above it) and records why the layer failed; the broker's limit is the backstop for a
//! job the worker could not count, e.g. while Redis was unreachable.

use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
use lapin::types::{AMQPValue, FieldTable, ShortString};

use crate::FleetError;

/// Deliveries of one message a quorum queue allows before dead-lettering it; above `STRATA_MAX_ATTEMPTS`'
/// default (3) so the worker's own count, which records the failure, acts first. RabbitMQ 4's default too.
pub const DEFAULT_DELIVERY_LIMIT: u16 = 20;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum QueueType {
    #[default]
    Classic,
    Quorum,
}

impl QueueType {
    pub fn as_str(self) -> &'static str {
        match self {
            QueueType::Classic => "classic",
            QueueType::Quorum => "quorum",
        }
    }
}

/// How the job queue is declared: `--queue-type`, `--queue-delivery-limit` (`STRATA_QUEUE_*`). Every
/// coordinator and worker of a fleet must give the same, since each one declares the queue.
#[derive(Debug, Clone, clap::Args)]
pub struct QueueArgs {
    /// `classic` or `quorum` (replicated; a delivery limit; dead letters to `<queue>.dlq`).
    #[arg(long, env = "STRATA_QUEUE_TYPE", value_enum, default_value_t = QueueType::Classic)]
    pub queue_type: QueueType,
    /// Quorum queues: deliveries of one job before the broker dead-letters it.
    #[arg(long, env = "STRATA_QUEUE_DELIVERY_LIMIT", default_value_t = DEFAULT_DELIVERY_LIMIT,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub queue_delivery_limit: u16,
}

impl Default for QueueArgs {
    fn default() -> Self {
        QueueArgs { queue_type: QueueType::Classic, queue_delivery_limit: DEFAULT_DELIVERY_LIMIT }
    }
}

impl QueueArgs {
    /// The declare arguments of the job queue `name` (`dead_letters` is its dead-letter queue's name).
    pub(crate) fn job_queue(&self, dead_letters: &str) -> FieldTable {
        let mut arguments = self.dead_letter_queue();
        if self.queue_type == QueueType::Quorum {
            let text = |s: &str| AMQPValue::LongString(s.into());
            for (key, value) in [
                ("x-delivery-limit", AMQPValue::LongInt(i32::from(self.queue_delivery_limit))),
                ("x-dead-letter-exchange", text("")),
                ("x-dead-letter-routing-key", text(dead_letters)),
                // At-least-once: a dead-lettered job leaves only once the dead-letter queue confirmed it.
                // RabbitMQ requires reject-publish overflow for it (which matters only with a length limit).
                ("x-dead-letter-strategy", text("at-least-once")),
                ("x-overflow", text("reject-publish")),
            ] {
                arguments.insert(ShortString::from(key), value);
            }
        }
        arguments
    }

    /// The declare arguments of the dead-letter queue: the same type, nothing else.
    pub(crate) fn dead_letter_queue(&self) -> FieldTable {
        let mut arguments = FieldTable::default();
        // Classic queues are declared without arguments, as before quorum queues were an option, so an
        // existing fleet's queues stay equivalent.
        if self.queue_type == QueueType::Quorum {
            arguments.insert(ShortString::from("x-queue-type"), AMQPValue::LongString("quorum".into()));
        }
        arguments
    }

    /// Explains a failed declaration of `queue`: a queue that exists with another type or other arguments
    /// is refused by the broker (PRECONDITION_FAILED), which says little about what to do.
    pub(crate) fn declare_error(&self, queue: &str, error: lapin::Error) -> FleetError {
        let refused = match error.kind() {
            lapin::ErrorKind::ProtocolError(e)
                if matches!(e.kind(), AMQPErrorKind::Soft(AMQPSoftError::PRECONDITIONFAILED)) =>
            {
                e.get_message().as_str().to_string()
            }
            _ => return FleetError::Queue(format!("declaring queue {queue}: {error}")),
        };
        let wanted = self.queue_type;
        let other = match wanted {
            QueueType::Classic => QueueType::Quorum,
            QueueType::Quorum => QueueType::Classic,
        };
        if refused.contains("x-queue-type") {
            FleetError::Queue(format!(
                "queue {queue} exists as a {} queue but STRATA_QUEUE_TYPE is {}: set STRATA_QUEUE_TYPE={} \
                 or, to change its type, drain and delete it (or use a new STRATA_QUEUE) (broker: {refused})",
                other.as_str(),
                wanted.as_str(),
                other.as_str(),
            ))
        } else {
            FleetError::Queue(format!(
                "queue {queue} exists with other arguments than STRATA_QUEUE_TYPE={} and \
                 STRATA_QUEUE_DELIVERY_LIMIT={} declare (broker: {refused})",
                wanted.as_str(),
                self.queue_delivery_limit,
            ))
        }
    }
}
