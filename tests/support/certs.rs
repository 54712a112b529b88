//! Test certificates made with the `openssl` command line: a CA, server certificates (ECDSA P-256 or RSA 2048) for given names, client certificates, and a second CA nobody trusts.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Key types the tests use.
#[derive(Clone, Copy, Debug)]
pub enum KeyType {
    EcdsaP256,
    Rsa2048,
}

/// A directory of certificates; removed on drop.
pub struct Pki {
    dir: PathBuf,
}

/// A certificate and its key on disk.
#[derive(Clone, Debug)]
pub struct Issued {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Issued {
    pub fn cert_str(&self) -> &str {
        self.cert.to_str().expect("utf-8 path")
    }
    pub fn key_str(&self) -> &str {
        self.key.to_str().expect("utf-8 path")
    }
    /// The certificate file as text (PEM).
    pub fn pem(&self) -> String {
        std::fs::read_to_string(&self.cert).expect("read certificate")
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("openssl is needed for the TLS tests (apt-get install openssl): {e}")
        });
    assert!(
        out.status.success(),
        "openssl {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn key_args(kind: KeyType) -> Vec<&'static str> {
    match kind {
        KeyType::EcdsaP256 => vec!["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        KeyType::Rsa2048 => vec!["-newkey", "rsa:2048"],
    }
}

impl Pki {
    /// A fresh directory with a CA (`ca.pem`) and an untrusted CA (`rogue-ca.pem`).
    pub fn new(tag: &str) -> Pki {
        let dir = std::env::temp_dir().join(format!(
            "jkd-pki-{tag}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        std::fs::create_dir_all(&dir).expect("create pki dir");
        let pki = Pki { dir };
        pki.make_ca("ca");
        pki.make_ca("rogue-ca");
        pki
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn make_ca(&self, name: &str) {
        let mut args = vec!["req", "-x509", "-nodes", "-days", "30"];
        args.extend(key_args(KeyType::EcdsaP256));
        let key = format!("{name}.key");
        let cert = format!("{name}.pem");
        let subject = format!("/CN=jkd test {name}");
        args.extend([
            "-keyout",
            &key,
            "-out",
            &cert,
            "-subj",
            &subject,
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        openssl(&self.dir, &args);
    }

    /// A server certificate for `names` (the first is the CN) signed by the CA, valid
    /// for `days`.
    pub fn server(&self, file: &str, names: &[&str], kind: KeyType, days: u32) -> Issued {
        let san: Vec<String> = names
            .iter()
            .map(|n| {
                if n.parse::<std::net::IpAddr>().is_ok() {
                    format!("IP:{n}")
                } else {
                    format!("DNS:{n}")
                }
            })
            .collect();
        self.issue(
            "ca",
            file,
            names.first().copied().unwrap_or("localhost"),
            kind,
            days,
            &format!(
                "subjectAltName={}\nextendedKeyUsage=serverAuth\n",
                san.join(",")
            ),
        )
    }

    /// A client certificate with common name `cn`, signed by `ca` ("ca" or "rogue-ca").
    pub fn client(&self, file: &str, cn: &str, ca: &str) -> Issued {
        self.issue(
            ca,
            file,
            cn,
            KeyType::EcdsaP256,
            30,
            "extendedKeyUsage=clientAuth\n",
        )
    }

    fn issue(
        &self,
        ca: &str,
        file: &str,
        cn: &str,
        kind: KeyType,
        days: u32,
        extensions: &str,
    ) -> Issued {
        let key = format!("{file}.key");
        let csr = format!("{file}.csr");
        let cert = format!("{file}.pem");
        let ext = format!("{file}.ext");
        std::fs::write(self.dir.join(&ext), extensions).expect("write extensions");
        let mut args = vec!["req", "-nodes"];
        args.extend(key_args(kind));
        let subject = format!("/CN={cn}");
        args.extend(["-keyout", &key, "-out", &csr, "-subj", &subject]);
        openssl(&self.dir, &args);
        let ca_cert = format!("{ca}.pem");
        let ca_key = format!("{ca}.key");
        let days = days.to_string();
        openssl(
            &self.dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &ca_cert,
                "-CAkey",
                &ca_key,
                "-CAcreateserial",
                "-days",
                &days,
                "-out",
                &cert,
                "-extfile",
                &ext,
            ],
        );
        Issued {
            cert: self.dir.join(cert),
            key: self.dir.join(key),
        }
    }

    /// The CA certificate.
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `openssl x509 -noout <what>` of a PEM certificate given as text (`-serial`,
/// `-subject`, `-enddate`).
pub fn x509_field(pem: &str, what: &str) -> String {
    use std::io::Write;
    let mut child = Command::new("openssl")
        .args(["x509", "-noout", what])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run openssl x509");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(pem.as_bytes())
        .expect("write certificate");
    let out = child.wait_with_output().expect("openssl x509");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
