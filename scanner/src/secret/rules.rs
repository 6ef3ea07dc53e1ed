//! The built-in rules, as data: id, keywords for the prefilter, the regex whose `secret` group is the
//! credential, and the gate that separates real credentials from look-alikes.
//!
//! Order matters: on one line, an earlier rule's match wins over a later rule's overlapping match, so the
//! specific rules come before the generic ones (a GitHub token in `password=ghp_…` is reported once, as a
//! GitHub token).

use crate::severity::Severity;

/// What a regex match must also satisfy to count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Gate {
    /// The format alone is specific enough (a `ghp_` token, an `AKIA` key id).
    Format,
    /// A value that people also fill with `changeme`, `${VAR}` or `<password>`: skip those.
    NotPlaceholder,
    /// A free-form value: not a placeholder, at least `min_len` bytes, at least `min_entropy` bits per
    /// byte (Shannon), and not a bare identifier (`self.password`).
    Entropy { min_len: usize, min_entropy: f64 },
    /// The right-hand side of a `password = …` assignment: [`Gate::Entropy`], and a value, not code or a
    /// word. Not a call, subscript or type (`ConfigAttribute("SECRET_KEY")`, `Optional[str]`), not an
    /// unquoted name in source code (`= self.key`, `: Optional`), and not letters that read as words
    /// (`AWSAccessKeyId`, `secretsmanager:TagResource`): generated secrets hold digits or symbols or switch
    /// case at random (gitleaks' generic rule goes further and wants a digit).
    Assignment { min_len: usize, min_entropy: f64 },
    /// A key-file marker: counts only when key material (64+ base64 characters) follows, so a manual
    /// quoting the BEGIN line is not a key.
    KeyBody,
}

/// One built-in rule, in the form the scanner compiles.
pub struct Spec {
    pub id: &'static str,
    pub category: &'static str,
    pub title: &'static str,
    pub severity: Severity,
    /// Matched case-insensitively by the prefilter; a line is only given to the regex when one occurs.
    pub keywords: &'static [&'static str],
    /// `regex::bytes` syntax; the `secret` group is what gets masked (the whole match when absent).
    pub regex: &'static str,
    /// Only files whose path (no leading slash) matches this regex.
    pub path: Option<&'static str>,
    /// Only files whose whole content also matches this regex.
    pub requires: Option<&'static str>,
    /// Evaluated on the lines within this many lines of the named rule's findings instead of on keyword
    /// hits: the secret half of a pair has no keyword of its own.
    pub near: Option<(&'static str, usize)>,
    pub gate: Gate,
    /// The line shows a marker, not the secret (PuTTY's header): nothing on it to mask.
    pub marker: bool,
    /// Also applied inside installed third-party packages ([`LIBRARY_PATHS`]). Off for the rules whose
    /// matches are shaped by context alone (an assignment, a URL with a password, a JWT): libraries' code
    /// and docstrings are full of examples of exactly those (`amqp://guest:guest@localhost//`, a JWT in
    /// PyJWT's README, `'oauth_token': 'kjerht2309uf'` in requests-oauthlib); a key in a provider's format
    /// is reported there too.
    pub libraries: bool,
}

const fn spec(id: &'static str, category: &'static str, title: &'static str, severity: Severity) -> Spec {
    Spec {
        id,
        category,
        title,
        severity,
        keywords: &[],
        regex: "",
        path: None,
        requires: None,
        near: None,
        gate: Gate::Format,
        marker: false,
        libraries: true,
    }
}

/// A 40-character AWS secret access key, delimited so that it is not the middle of a longer token.
const AWS_SECRET: &str = r#"(?:^|[^A-Za-z0-9/+])(?P<secret>[A-Za-z0-9/+]{40})(?:$|[^A-Za-z0-9/+=])"#;

pub fn builtin() -> Vec<Spec> {
    use Severity::*;
    vec![
        Spec {
            keywords: &["\"private_key\""],
            regex: r#""private_key" *: *"(?P<secret>-----BEGIN[^"]{40,})""#,
            requires: Some(r#""type" *: *"service_account""#),
            ..spec("gcp-service-account", "GoogleCloud", "GCP service account key", Critical)
        },
        Spec {
            keywords: &["-----begin"],
            regex: r"-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----(?P<secret>.*)",
            gate: Gate::KeyBody,
            ..spec("private-key", "AsymmetricPrivateKey", "Private key (PEM or OpenSSH)", High)
        },
        Spec {
            keywords: &["putty-user-key-file-"],
            regex: r"PuTTY-User-Key-File-[23]: *[a-z0-9-]+",
            requires: Some(r"(?m)^Private-Lines: *[0-9]+"),
            marker: true,
            ..spec("putty-private-key", "AsymmetricPrivateKey", "PuTTY private key", High)
        },
        Spec {
            keywords: &["akia", "asia", "abia", "acca", "a3t"],
            regex: r"(?:^|[^A-Za-z0-9])(?P<secret>(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})(?:$|[^A-Za-z0-9])",
            ..spec("aws-access-key-id", "AWS", "AWS access key ID", Critical)
        },
        Spec {
            keywords: &["secret_access_key", "secretaccesskey", "aws_secret", "aws-secret"],
            regex: r#"(?i)(?:secret_?access_?key|aws[_-]secret[a-z_-]*)["']? *(?:=|:|=>) *["']?(?P<secret>[A-Za-z0-9/+]{40})(?:$|[^A-Za-z0-9/+=])"#,
            gate: Gate::Entropy { min_len: 40, min_entropy: 3.5 },
            ..spec("aws-secret-access-key", "AWS", "AWS secret access key", Critical)
        },
        Spec {
            regex: AWS_SECRET,
            near: Some(("aws-access-key-id", 3)),
            gate: Gate::Entropy { min_len: 40, min_entropy: 4.0 },
            ..spec("aws-secret-access-key", "AWS", "AWS secret access key", Critical)
        },
        Spec {
            keywords: &["accountkey=", "sharedaccesskey="],
            regex: r"(?i)(?:AccountKey|SharedAccessKey)=(?P<secret>[A-Za-z0-9+/]{40,88}={0,2})",
            gate: Gate::Entropy { min_len: 40, min_entropy: 4.0 },
            ..spec("azure-connection-string", "Azure", "Azure storage or service bus connection string", Critical)
        },
        Spec {
            keywords: &["azure"],
            regex: r#"(?i)azure[a-z0-9_.-]*(?:key|secret)[a-z0-9_.-]*["']? *(?:=|:) *["']?(?P<secret>[A-Za-z0-9+/]{86}==)"#,
            gate: Gate::Entropy { min_len: 88, min_entropy: 4.0 },
            ..spec("azure-storage-account-key", "Azure", "Azure storage account key", Critical)
        },
        Spec {
            keywords: &["ghp_", "gho_", "ghu_", "ghs_", "ghr_"],
            regex: r"(?:^|[^A-Za-z0-9_])(?P<secret>gh[pousr]_[A-Za-z0-9]{36,251})(?:$|[^A-Za-z0-9_])",
            ..spec("github-token", "GitHub", "GitHub token", Critical)
        },
        Spec {
            keywords: &["github_pat_"],
            regex: r"(?P<secret>github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})",
            ..spec("github-fine-grained-token", "GitHub", "GitHub fine-grained personal access token", Critical)
        },
        Spec {
            keywords: &["glpat-"],
            regex: r"(?P<secret>glpat-[A-Za-z0-9_-]{20,})",
            ..spec("gitlab-token", "GitLab", "GitLab personal access token", Critical)
        },
        Spec {
            keywords: &["xoxb-", "xoxa-", "xoxp-", "xoxr-", "xoxs-"],
            regex: r"(?P<secret>xox[baprs]-[0-9A-Za-z-]{16,})",
            ..spec("slack-token", "Slack", "Slack token", High)
        },
        Spec {
            keywords: &["hooks.slack.com/"],
            regex: r"https://hooks\.slack\.com/(?:services|workflows)/(?P<secret>[A-Za-z0-9+/]{30,})",
            ..spec("slack-webhook", "Slack", "Slack webhook URL", Medium)
        },
        Spec {
            keywords: &["sk_live_", "rk_live_"],
            regex: r"(?P<secret>(?:sk|rk)_live_[0-9A-Za-z]{24,99})",
            ..spec("stripe-secret-key", "Stripe", "Stripe secret or restricted key", Critical)
        },
        Spec {
            keywords: &["_authtoken", "_auth=", "_password="],
            regex: r"(?i)(?:_authToken|_auth|_password) *= *(?P<secret>[^\s]{8,})",
            path: Some(r"(?:^|/)\.npmrc$"),
            gate: Gate::NotPlaceholder,
            ..spec("npm-token", "npm", "npm registry credential in .npmrc", Critical)
        },
        Spec {
            keywords: &["\"auth\"", "\"identitytoken\""],
            regex: r#"(?i)"(?:auth|identitytoken)" *: *"(?P<secret>[A-Za-z0-9+/=._-]{8,})""#,
            path: Some(r"(?:^|/)(?:config\.json|\.dockercfg)$"),
            requires: Some(r#""auths""#),
            gate: Gate::NotPlaceholder,
            ..spec("docker-config-auth", "Docker", "Registry credential in a docker config.json", High)
        },
        Spec {
            keywords: &["eyj"],
            regex: r"(?:^|[^A-Za-z0-9_-])(?P<secret>eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,})",
            libraries: false,
            ..spec("jwt-token", "JWT", "JSON Web Token", Medium)
        },
        Spec {
            keywords: &["://"],
            regex: r#"(?i)[a-z][a-z0-9+.-]{1,15}://[^\s:/@'"<>]{1,64}:(?P<secret>[^\s:/@'"<>]{3,128})@[a-z0-9\[]"#,
            gate: Gate::NotPlaceholder,
            libraries: false,
            ..spec("url-password", "Generic", "Password in a URL", High)
        },
        Spec {
            keywords: &[
                "password",
                "passwd",
                "pass_word",
                "secret",
                "api_key",
                "apikey",
                "api-key",
                "access_key",
                "access-key",
                "auth_token",
                "authtoken",
            ],
            regex: r#"(?i)(?:^|[^a-z0-9])[a-z0-9_.-]{0,40}(?:passw(?:or)?d|pass_word|secret|api[_-]?key|access[_-]?key|auth[_-]?token)[a-z0-9_.-]{0,40}["']? *(?:=|:=|=>|:) *["'`]?(?P<secret>[^\s"'`,;()\[\]{}<>]{8,256})"#,
            gate: Gate::Assignment { min_len: 8, min_entropy: 3.0 },
            libraries: false,
            ..spec("generic-secret", "Generic", "Password or secret assignment", High)
        },
    ]
}

/// Where example and test credentials live: never reported unless a config turns this off. Globs on
/// the path without its leading slash (`**` crosses directories, `*` does not).
pub const DEFAULT_ALLOWED_PATHS: &[&str] = &[
    "usr/share/doc/**",
    "usr/share/man/**",
    "usr/share/info/**",
    "usr/share/common-licenses/**",
    "usr/share/locale/**",
    "usr/share/zoneinfo/**",
    "**/test*/**",
    "**/spec/**",
    "**/fixtures/**",
    "**/__tests__/**",
    "**/example*/**",
    "**/doc/**",
    "**/docs/**",
    "**/*.md",
    "**/*.rst",
];

/// Where installed third-party packages live: language runtimes' standard libraries and package
/// directories. The rules with `libraries: false` are not applied to their code, docs and data (with the
/// default allow-list only); credential files a package ships (`.npmrc`, `.env`, `config/default.json`)
/// get every rule. The image's own code (`/app`, `/srv`, a project's `settings.py`) is outside these; an app
/// installed into `site-packages` as a package is not, and its assignments are not reported.
pub const LIBRARY_PATHS: &[&str] = &[
    "**/site-packages/**",
    "**/dist-packages/**",
    "usr/lib/python3*/**",
    "usr/local/lib/python3*/**",
    "**/gems/*/**",
    "usr/lib/ruby/**",
    "usr/local/lib/ruby/**",
    "usr/share/perl/**",
    "usr/share/perl5/**",
    "usr/lib/*/perl/**",
    "usr/lib/*/perl5/**",
    "usr/lib/*/perl-base/**",
    "**/node_modules/**",
    "**/go/pkg/mod/**",
    "usr/local/go/**",
    "**/vendor/**",
];
