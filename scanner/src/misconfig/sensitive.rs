//! Names that hold secrets (`DB_PASSWORD`, `GITHUB_TOKEN`) and how their values are shown: never at all.

/// Name parts that mark a secret. `KEY` alone is not one: `GPG_KEY`, `KEYRING` hold public material.
const MARKERS: [&str; 9] =
    ["PASSWORD", "PASSWD", "SECRET", "TOKEN", "APIKEY", "API_KEY", "ACCESS_KEY", "PRIVATE_KEY", "CREDENTIAL"];

/// Suffixes naming where a secret is, not the secret (`POSTGRES_PASSWORD_FILE=/run/secrets/db`).
const POINTERS: [&str; 5] = ["_FILE", "_PATH", "_DIR", "_ENV", "_NAME"];

pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase().replace(['-', '.'], "_");
    MARKERS.iter().any(|m| upper.contains(m)) && !POINTERS.iter().any(|p| upper.ends_with(p))
}

/// A value that is a real literal rather than a reference to one (`$DB_PASSWORD`, `${TOKEN}`, empty).
pub fn is_literal(value: &str) -> bool {
    let v = value.trim().trim_matches(['"', '\'']);
    !v.is_empty() && !v.starts_with('$')
}

/// What reports show instead of a value: fixed, so not even the length leaks.
pub const MASK: &str = "********";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names() {
        for (name, secret) in [
            ("DB_PASSWORD", true),
            ("POSTGRES_PASSWORD", true),
            ("github-token", true),
            ("SECRET_KEY_BASE", true),
            ("AWS_SECRET_ACCESS_KEY", true),
            ("NPM_TOKEN", true),
            ("STRIPE_API_KEY", true),
            ("POSTGRES_PASSWORD_FILE", false),
            ("GPG_KEY", false),
            ("PYTHON_VERSION", false),
            ("KEYRING", false),
        ] {
            assert_eq!(is_secret_name(name), secret, "{name}");
        }
        assert!(is_literal("hunter2") && !is_literal("$DB_PASSWORD") && !is_literal("\"\""));
    }
}
