//! Whether Redis may evict what the fleet cannot lose. Scan records, reports, image records, policy
//! documents, retention's indexes, the push-event inbox and DefectDojo's pending deliveries carry no TTL:
//! they go when retention or their consumer removes them. What carries one is recomputable or bounded —
//! layer results (`STRATA_LAYER_TTL_DAYS`), claims, leases, deduplication markers, finished delivery
//! records. So:
//!
//! - `noeviction`: safe; a full Redis refuses writes (scans fail visibly) instead of losing records.
//! - `volatile-lru`, `volatile-lfu`, `volatile-random`, `volatile-ttl`: safe for the records; only keys
//!   with a TTL go — layers are analysed again, a lost lease or claim costs duplicate work at worst.
//!   With nothing volatile left, Redis behaves as under `noeviction`.
//! - `allkeys-*`: unsafe; Redis may drop scan records, reports or queued deliveries under memory pressure.

use tracing::{info, warn};

use crate::store::ScanStore;

/// What the coordinator found at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Eviction {
    /// The policy cannot evict anything without a TTL.
    Safe(String),
    /// The policy may evict scan records (an `allkeys-*` policy, or one this version does not know).
    Unsafe(String),
    /// Redis would not say (managed services often refuse `CONFIG`).
    Unknown(String),
}

/// Classifies a `maxmemory-policy` value.
pub fn classify(policy: &str) -> Eviction {
    match policy {
        "noeviction" | "volatile-lru" | "volatile-lfu" | "volatile-random" | "volatile-ttl" => {
            Eviction::Safe(policy.to_string())
        }
        other => Eviction::Unsafe(other.to_string()),
    }
}

/// Asks Redis for its `maxmemory-policy` (`CONFIG GET`) and classifies it.
pub async fn check(store: &ScanStore) -> Eviction {
    let reply: redis::RedisResult<redis::Value> =
        redis::cmd("CONFIG").arg("GET").arg("maxmemory-policy").query_async(&mut store.conn()).await;
    match reply {
        Ok(value) => match policy_of(&value) {
            Some(policy) => classify(&policy),
            None => Eviction::Unknown(format!("unexpected CONFIG GET reply {value:?}")),
        },
        Err(e) => Eviction::Unknown(e.to_string()),
    }
}

/// The value in a `CONFIG GET maxmemory-policy` reply: a flat array (RESP2) or a map (RESP3).
fn policy_of(value: &redis::Value) -> Option<String> {
    let text = |v: &redis::Value| redis::from_redis_value_ref::<String>(v).ok();
    match value {
        redis::Value::Array(items) => items.get(1).and_then(text),
        redis::Value::Map(pairs) => pairs.first().and_then(|(_, v)| text(v)),
        _ => None,
    }
}

/// Checks and says what it found: a WARN when scan records can be evicted.
pub async fn check_and_log(store: &ScanStore) -> Eviction {
    let found = check(store).await;
    match &found {
        Eviction::Safe(policy) => info!(policy = %policy, "Redis maxmemory-policy keeps scan records"),
        Eviction::Unsafe(policy) => warn!(
            policy = %policy,
            "Redis maxmemory-policy can evict scan records, reports and queued deliveries: set noeviction or a \
             volatile-* policy (docs/operations.md, \"Redis: sizing and retention\")"
        ),
        Eviction::Unknown(why) => info!(
            reason = %strata_fleet::cache::redact(why),
            "could not read Redis's maxmemory-policy (managed Redis often refuses CONFIG): make sure it is \
             noeviction or volatile-* (docs/operations.md)"
        ),
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies() {
        for safe in ["noeviction", "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"] {
            assert_eq!(classify(safe), Eviction::Safe(safe.into()));
        }
        for unsafe_ in ["allkeys-lru", "allkeys-lfu", "allkeys-random", "something-new"] {
            assert_eq!(classify(unsafe_), Eviction::Unsafe(unsafe_.into()));
        }
        let resp2 = redis::Value::Array(vec![
            redis::Value::BulkString(b"maxmemory-policy".to_vec()),
            redis::Value::BulkString(b"allkeys-lru".to_vec()),
        ]);
        assert_eq!(policy_of(&resp2).as_deref(), Some("allkeys-lru"));
        let resp3 = redis::Value::Map(vec![(
            redis::Value::SimpleString("maxmemory-policy".into()),
            redis::Value::SimpleString("noeviction".into()),
        )]);
        assert_eq!(policy_of(&resp3).as_deref(), Some("noeviction"));
        assert_eq!(policy_of(&redis::Value::Nil), None);
    }
}
