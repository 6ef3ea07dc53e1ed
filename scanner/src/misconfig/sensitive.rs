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

/// A history step (`|1 NPM_TOKEN=abc /bin/sh -c npm ci`, `export API_KEY=… && …`) with the value of every
/// secret-named assignment masked, for everywhere a step is shown (reports, layer attribution).
pub fn mask_assignments(step: &str) -> String {
    step.split(' ')
        .map(|token| match token.split_once('=') {
            Some((name, value)) if is_secret_name(name.trim_start_matches("--build-arg")) && is_literal(value) => {
                format!("{name}={MASK}")
            }
            _ => token.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_steps_are_masked() {
        for (step, shown) in [
            ("|1 NPM_TOKEN=npm_abcdef /bin/sh -c npm ci", "|1 NPM_TOKEN=******** /bin/sh -c npm ci"),
            ("/bin/sh -c export API_KEY=sk_live_x && run", "/bin/sh -c export API_KEY=******** && run"),
            ("/bin/sh -c apt-get install -y curl", "/bin/sh -c apt-get install -y curl"),
            ("|1 PASSWORD_FILE=/run/secrets/p /bin/sh -c x", "|1 PASSWORD_FILE=/run/secrets/p /bin/sh -c x"),
            ("/bin/sh -c export TOKEN=$CI_TOKEN", "/bin/sh -c export TOKEN=$CI_TOKEN"),
        ] {
            assert_eq!(mask_assignments(step), shown);
        }
    }

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
