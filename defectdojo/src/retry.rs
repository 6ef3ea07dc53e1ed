//! How long to wait before sending a failed upload again: the CLI's retries and the coordinator's
//! delivery back off alike.

use std::time::Duration;

/// `base · 2^(attempt-1)`, capped, times a random factor in [0.5, 1) so that replicas and engagements
/// that failed together do not retry together. `Retry-After` wins when DefectDojo gave one (capped at an
/// hour, so a bogus header cannot stall an engagement for days).
pub fn backoff(base: Duration, max: Duration, attempt: u32, retry_after: Option<Duration>) -> Duration {
    if let Some(after) = retry_after {
        return after.min(Duration::from_secs(3600));
    }
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(20)).min(max);
    let random = (uuid::Uuid::new_v4().as_u128() >> 64) as f64 / u64::MAX as f64;
    exp.mul_f64(0.5 + random / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_honours_retry_after() {
        let (base, max) = (Duration::from_millis(100), Duration::from_secs(1));
        for _ in 0..50 {
            let first = backoff(base, max, 1, None);
            assert!(first >= Duration::from_millis(50) && first < Duration::from_millis(100), "{first:?}");
            let third = backoff(base, max, 3, None);
            assert!(third >= Duration::from_millis(200) && third < Duration::from_millis(400), "{third:?}");
            assert!(backoff(base, max, 30, None) < max);
        }
        assert_eq!(backoff(base, max, 1, Some(Duration::from_secs(7))), Duration::from_secs(7));
    }
}
