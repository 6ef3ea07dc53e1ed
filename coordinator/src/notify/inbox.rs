//! Accepted push events in Redis, so none is lost between the registry's 200 and the scan's record.
//!
//! Keys under `{prefix}:notify:` — `pending` (list of JSON [`Pushed`], new on the left, taken from the
//! right), `processing` (what the drainer has taken and not yet submitted), `seen:{reference}` (the
//! deduplication marker, expiring after the window). A replica that dies between taking an event and
//! recording its scan leaves it in `processing`; the next drainer moves it back (at least once: such an
//! event can be submitted twice, never zero times).

use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use super::event::Pushed;
use crate::error::{CoordinatorError, Result};

#[derive(Clone)]
pub struct Inbox {
    conn: ConnectionManager,
    prefix: String,
}

/// What became of an accepted event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Persisted: a scan will follow.
    Queued,
    /// The same reference was queued inside the window: no second scan.
    Duplicate,
}

impl Inbox {
    pub async fn connect(client: &redis::Client, prefix: &str) -> Result<Inbox> {
        let conn = strata_fleet::redis_link::manager(client).await?;
        Ok(Inbox { conn, prefix: prefix.to_string() })
    }

    fn key(&self, what: &str) -> String {
        format!("{}:notify:{what}", self.prefix)
    }

    /// Marks the reference seen and queues the event in one step: a failure leaves neither, so the
    /// registry's retry is not mistaken for a duplicate.
    pub async fn admit(&self, pushed: &Pushed, window: Duration) -> Result<Admission> {
        const SCRIPT: &str = "if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then \
            redis.call('LPUSH', KEYS[2], ARGV[3]) return 1 end return 0";
        let entry = serde_json::to_string(pushed).map_err(|e| CoordinatorError::Internal(e.to_string()))?;
        let queued: i64 = redis::cmd("EVAL")
            .arg(SCRIPT)
            .arg(2)
            .arg(self.key(&format!("seen:{}", pushed.reference)))
            .arg(self.key("pending"))
            .arg(&pushed.event_id)
            .arg(window.as_secs().max(1))
            .arg(entry)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(if queued == 1 { Admission::Queued } else { Admission::Duplicate })
    }

    /// Takes the oldest pending event into `processing`: `(raw entry, event)`. An entry that does not
    /// decode (written by an incompatible version) is dropped with a warning rather than retried forever.
    pub async fn take(&self) -> Result<Option<(String, Pushed)>> {
        let raw: Option<String> = redis::cmd("LMOVE")
            .arg(self.key("pending"))
            .arg(self.key("processing"))
            .arg("RIGHT")
            .arg("LEFT")
            .query_async(&mut self.conn.clone())
            .await?;
        let Some(raw) = raw else { return Ok(None) };
        match serde_json::from_str(&raw) {
            Ok(pushed) => Ok(Some((raw, pushed))),
            Err(e) => {
                tracing::warn!(error = %e, "dropping an undecodable push event");
                self.done(&raw).await?;
                Ok(None)
            }
        }
    }

    /// Forgets an event whose scan is recorded.
    pub async fn done(&self, raw: &str) -> Result<()> {
        let _: i64 = self.conn.clone().lrem(self.key("processing"), 1, raw).await?;
        Ok(())
    }

    /// Puts back every event a drainer took and did not finish (its replica died), next in line.
    pub async fn recover(&self) -> Result<u64> {
        const SCRIPT: &str =
            "local n = 0 while redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT') do n = n + 1 end return n";
        let moved: u64 = redis::cmd("EVAL")
            .arg(SCRIPT)
            .arg(2)
            .arg(self.key("processing"))
            .arg(self.key("pending"))
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(moved)
    }

    /// Events accepted and not yet submitted as scans.
    pub async fn depth(&self) -> Result<u64> {
        let (pending, processing): (u64, u64) = redis::pipe()
            .llen(self.key("pending"))
            .llen(self.key("processing"))
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(pending + processing)
    }
}
