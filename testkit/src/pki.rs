//! Certificates for tests, made by the `openssl` CLI in a directory of the test's: a CA, a server
//! certificate for 127.0.0.1 and localhost, a client certificate, all signed by that CA (ECDSA P-256,
//! valid two days), and a second, unrelated CA to show that a server is not trusted without its own.

use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, Clone)]
pub struct Pki {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// A CA that signed nothing here.
    pub other_ca: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").current_dir(dir).args(args).output().expect("openssl must be installed");
    assert!(out.status.success(), "openssl {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

/// A self-signed CA: `NAME.pem` and `NAME.key` in `dir`.
fn ca(dir: &Path, name: &str) -> PathBuf {
    let (key, pem, subject) = (format!("{name}.key"), format!("{name}.pem"), format!("/CN=strata test {name}"));
    openssl(
        dir,
        &["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", &key]
            .into_iter()
            .chain(["-out", &pem, "-days", "2", "-subj", &subject])
            .chain(["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
            .collect::<Vec<_>>(),
    );
    dir.join(pem)
}

/// A certificate for `name` signed by the CA `ca`, with the extensions in `extensions`.
fn leaf(dir: &Path, name: &str, extensions: &str) -> (PathBuf, PathBuf) {
    let (key, csr, pem, ext) =
        (format!("{name}.key"), format!("{name}.csr"), format!("{name}.pem"), format!("{name}.ext"));
    std::fs::write(dir.join(&ext), extensions).expect("extensions file");
    let subject = format!("/CN=strata test {name}");
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            &subject,
        ],
    );
    openssl(
        dir,
        &["x509", "-req", "-in", &csr, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", &pem]
            .into_iter()
            .chain(["-days", "2", "-extfile", &ext])
            .collect::<Vec<_>>(),
    );
    (dir.join(pem), dir.join(key))
}

impl Pki {
    /// Makes the certificates in `dir` (which must exist).
    pub fn new(dir: &Path) -> Pki {
        let other_ca = ca(dir, "other-ca");
        let ca = ca(dir, "ca");
        let (server_cert, server_key) = leaf(
            dir,
            "server",
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=critical,CA:FALSE\n",
        );
        let (client_cert, client_key) =
            leaf(dir, "client", "extendedKeyUsage=clientAuth\nbasicConstraints=critical,CA:FALSE\n");
        Pki { ca, server_cert, server_key, client_cert, client_key, other_ca }
    }
}
