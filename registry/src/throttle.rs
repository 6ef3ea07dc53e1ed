//! Registry rate limits: how long to wait after a `429 Too Many Requests` or `503 Service Unavailable`, from
//! the `Retry-After` header (delay-seconds or an HTTP date, RFC 9110 §10.2.3) or, without one, an
//! exponential backoff; and the policy that caps the wait and the number of tries.

use std::time::{Duration, SystemTime};

/// How a throttled request is retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Tries per request, the first included.
    pub max_attempts: u32,
    /// The longest single wait. A registry asking for longer is not waited for: the request fails at
    /// once, naming the wait it asked for, rather than hammering it early.
    pub max_wait: Duration,
    /// The first wait when the registry gives no `Retry-After`; doubled on every try.
    pub backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_attempts: 5, max_wait: Duration::from_secs(120), backoff: Duration::from_secs(1) }
    }
}

/// What to do about a throttled answer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Sleep this long, then try again.
    Wait(Duration),
    /// Give up: the reason, for the error message.
    GiveUp(String),
}

impl RetryPolicy {
    /// `attempt` is the number of tries made so far (1 after the first); `retry_after` the header's value.
    pub(crate) fn decide(&self, attempt: u32, retry_after: Option<&str>, now: SystemTime) -> Decision {
        let asked = retry_after.and_then(|v| parse_retry_after(v, now));
        if attempt >= self.max_attempts {
            return Decision::GiveUp(format!("still throttled after {attempt} tries"));
        }
        match asked {
            Some(wait) if wait > self.max_wait => Decision::GiveUp(format!(
                "the registry asked to wait {} s, more than the {} s this client waits",
                wait.as_secs(),
                self.max_wait.as_secs()
            )),
            Some(wait) => Decision::Wait(wait),
            None => {
                let factor = 1u32.checked_shl(attempt.saturating_sub(1)).unwrap_or(u32::MAX);
                Decision::Wait(self.backoff.saturating_mul(factor).min(self.max_wait))
            }
        }
    }
}

/// A `Retry-After` value (delay-seconds or an HTTP date) as a delay from now. For any HTTP client of the
/// project, not only registries.
pub fn retry_after(value: &str) -> Option<Duration> {
    parse_retry_after(value, SystemTime::now())
}

/// `Retry-After: 120` or `Retry-After: Fri, 31 Dec 1999 23:59:59 GMT`, as a delay from `now` (a date in the
/// past is no delay). `None` when the value is neither.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse::<u64>().ok().map(Duration::from_secs);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_values() {
        // 1994-11-06 08:49:37 UTC, the RFC's own example date.
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        let cases: &[(&str, Option<u64>)] = &[
            ("0", Some(0)),
            ("7", Some(7)),
            (" 120 ", Some(120)),
            ("Sun, 06 Nov 1994 08:49:37 GMT", Some(0)),
            ("Sun, 06 Nov 1994 08:50:07 GMT", Some(30)),
            // obsolete forms HTTP/1.1 recipients must accept
            ("Sunday, 06-Nov-94 08:51:37 GMT", Some(120)),
            ("Sun Nov  6 08:49:47 1994", Some(10)),
            // in the past: no wait
            ("Sat, 05 Nov 1994 08:49:37 GMT", Some(0)),
            ("-5", None),
            ("1.5", None),
            ("soon", None),
            ("", None),
            ("99999999999999999999999", None),
        ];
        for (value, expected) in cases {
            assert_eq!(parse_retry_after(value, now), expected.map(Duration::from_secs), "{value:?}");
        }
    }

    #[test]
    fn decisions() {
        let policy =
            RetryPolicy { max_attempts: 4, max_wait: Duration::from_secs(60), backoff: Duration::from_millis(500) };
        let now = SystemTime::now();
        let wait = |ms| Decision::Wait(Duration::from_millis(ms));
        let cases: &[(u32, Option<&str>, Decision)] = &[
            (1, Some("3"), wait(3000)),
            (1, None, wait(500)),
            (2, None, wait(1000)),
            (3, Some("garbage"), wait(2000)),
            (1, Some("60"), wait(60_000)),
        ];
        for (attempt, header, expected) in cases {
            assert_eq!(&policy.decide(*attempt, *header, now), expected, "{attempt} {header:?}");
        }
        assert!(matches!(policy.decide(1, Some("61"), now), Decision::GiveUp(why) if why.contains("61 s")));
        assert!(matches!(policy.decide(4, Some("1"), now), Decision::GiveUp(why) if why.contains("4 tries")));
        // The backoff never exceeds the cap, however many tries are allowed.
        let patient = RetryPolicy { max_attempts: 100, ..policy };
        assert_eq!(patient.decide(40, None, now), Decision::Wait(Duration::from_secs(60)));
    }
}
