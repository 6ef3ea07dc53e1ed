//! Bearer-token checks shared by the gRPC interceptor and the HTTP listener. A check never says what the
//! expected token is, and the token never reaches a log or an error message.

/// What a request's `Authorization` header says about a shared secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bearer {
    Valid,
    Invalid,
    Missing,
}

/// Compares `Authorization: Bearer <token>` with `expected`. The comparison reads every byte whatever
/// differs first, so its time says nothing about how much of a guess was right.
pub fn check(header: Option<&str>, expected: &str) -> Bearer {
    let Some(given) = header.map(str::trim).and_then(|h| h.strip_prefix("Bearer ")).map(str::trim) else {
        return Bearer::Missing;
    };
    if constant_time_eq(given.as_bytes(), expected.as_bytes()) { Bearer::Valid } else { Bearer::Invalid }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    // The length of a shared secret is no secret worth hiding; its bytes are.
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_checks() {
        assert_eq!(check(Some("Bearer s3cret"), "s3cret"), Bearer::Valid);
        assert_eq!(check(Some("Bearer s3cret "), "s3cret"), Bearer::Valid);
        assert_eq!(check(Some("Bearer s3cres"), "s3cret"), Bearer::Invalid);
        assert_eq!(check(Some("Bearer s3cre"), "s3cret"), Bearer::Invalid);
        assert_eq!(check(Some("Basic s3cret"), "s3cret"), Bearer::Missing);
        assert_eq!(check(None, "s3cret"), Bearer::Missing);
    }
}
