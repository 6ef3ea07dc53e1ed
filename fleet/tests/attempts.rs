//! Attempt counting in the machine's real Redis: counted before the work, kept across processes (a new
//! connection sees the count a dead worker left), carrying the last failure, reset by the layer's result.

use std::time::Duration;

use strata_fleet::cache::{LayerCache, RedisCache};
use strata_fleet::codec;

const REDIS: &str = "redis://127.0.0.1:6379";
const DIGEST: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

#[tokio::test]
async fn attempts_survive_the_worker_and_reset_with_the_result() {
    let prefix = format!("strata-test:attempts:{}", uuid::Uuid::new_v4());
    let ttl = Duration::from_secs(60);
    {
        // A worker that counts its attempt and dies before settling it.
        let dead = RedisCache::connect(REDIS, &prefix, ttl).await.expect("Redis");
        let first = dead.begin_attempt(DIGEST).await.unwrap();
        assert_eq!((first.number, first.last_failure), (1, None));
    }
    let cache = RedisCache::connect(REDIS, &prefix, ttl).await.expect("Redis");
    let second = cache.begin_attempt(DIGEST).await.unwrap();
    assert_eq!((second.number, second.last_failure), (2, None), "the dead worker's attempt counts");
    cache.attempt_failed(DIGEST, "the analyser was aborted by SIGABRT").await.unwrap();
    let third = cache.begin_attempt(DIGEST).await.unwrap();
    assert_eq!(third.number, 3);
    assert_eq!(third.last_failure.as_deref(), Some("the analyser was aborted by SIGABRT"));
    let expiry: i64 = redis::cmd("TTL")
        .arg(cache.keys().attempts(DIGEST))
        .query_async(&mut redis::Client::open(REDIS).unwrap().get_multiplexed_async_connection().await.unwrap())
        .await
        .unwrap();
    assert!(expiry > 0, "an attempt count expires: TTL {expiry}");

    // The layer's result (here its failure, after dead-lettering) starts the count over for a later scan.
    cache.put(&codec::failed_result(DIGEST, "gave up", 3)).await.unwrap();
    let again = cache.begin_attempt(DIGEST).await.unwrap();
    assert_eq!((again.number, again.last_failure), (1, None));
    let mut conn = redis::Client::open(REDIS).unwrap().get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}:*")).query_async(&mut conn).await.unwrap();
    let _: () = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await.unwrap();
}
