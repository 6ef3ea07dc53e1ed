//! The services a run uses. The registry, the coordinator and the workers are always the run's own (real
//! binaries). RabbitMQ and Redis are the machine's (with a queue and key prefix of the run's own) unless
//! the run owns them: then it starts `redis-server` and a `rabbitmq-server` node of its own on free ports
//! in a temporary directory, which it can stop and start again (fault mode).

use anyhow::Result;
use strata_testkit::services::{OwnedRabbit, OwnedRedis};

/// RabbitMQ and Redis for a run: the machine's, or owned ones.
pub struct Backends {
    pub redis: Option<OwnedRedis>,
    pub rabbit: Option<OwnedRabbit>,
    _dir: tempfile::TempDir,
}

impl Backends {
    pub fn machine() -> Result<Backends> {
        Ok(Backends { redis: None, rabbit: None, _dir: tempfile::tempdir()? })
    }

    pub fn owned(appendonly: bool) -> Result<Backends> {
        let dir = tempfile::tempdir()?;
        let redis = OwnedRedis::start(dir.path(), appendonly);
        let rabbit = OwnedRabbit::start(dir.path());
        Ok(Backends { redis: Some(redis), rabbit: Some(rabbit), _dir: dir })
    }

    pub fn redis_url(&self) -> String {
        self.redis.as_ref().map_or_else(|| "redis://127.0.0.1:6379".to_string(), OwnedRedis::url)
    }

    /// Environment for the fleet processes.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![("STRATA_REDIS_URL".to_string(), self.redis_url())];
        if let Some(rabbit) = &self.rabbit {
            env.push(("STRATA_AMQP_URL".to_string(), rabbit.url()));
        }
        env
    }
}
