//! A real Kafka-protocol broker for tests: tansu with SQLite storage, started in a fresh
//! temporary directory on a random 127.0.0.1 port, killed when dropped. Optionally behind
//! stunnel (tansu cannot terminate TLS itself) and with SASL authentication.
//!
//! The binary comes from `UPTIMER_TANSU` (scripts/test installs it and sets the variable), else
//! `~/.cache/tansu-0.6.0-libsql/bin/tansu`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::net::{free_port, listening};
use super::wait::{PATIENCE, poll};

pub struct Broker {
    /// The port clients connect to (stunnel's when TLS is on).
    pub port: u16,
    plain_port: u16,
    child: Child,
    stunnel: Option<Child>,
    dir: tempfile::TempDir,
}

pub fn tansu() -> PathBuf {
    std::env::var_os("UPTIMER_TANSU")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default())
                .join(".cache/tansu-0.6.0-libsql/bin/tansu")
        })
}

fn wait_for_port(port: u16, what: &str, log: impl Fn() -> String) {
    if poll(PATIENCE, || listening(port).then_some(())).is_none() {
        panic!("{what} did not start: {}", log());
    }
}

fn spawn_tansu(dir: &Path, listen: u16, advertise: u16, authentication: bool) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("tansu.log"))
        .unwrap();
    let mut args = vec![
        "broker".to_owned(),
        "--listener-url".into(),
        format!("tcp://127.0.0.1:{listen}"),
        "--advertised-listener-url".into(),
        format!("tcp://127.0.0.1:{advertise}"),
        "--storage-engine".into(),
        "sqlite://tansu.db".into(),
    ];
    if authentication {
        args.push("--authentication".into());
    }
    Command::new(tansu())
        .current_dir(dir)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start tansu")
}

/// TLS material for a broker behind stunnel: PEM files in the broker's directory.
pub struct TlsFiles {
    pub ca: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

impl Broker {
    /// A plain broker.
    pub fn start() -> Broker {
        Broker::start_with(false, false)
    }

    /// `tls`: behind stunnel demanding a client certificate; `authentication`: SASL required.
    pub fn start_with(tls: bool, authentication: bool) -> Broker {
        let bin = tansu();
        assert!(
            bin.exists(),
            "tansu not found at {} (scripts/test installs it)",
            bin.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let plain_port = free_port();
        let port = if tls { free_port() } else { plain_port };
        let child = spawn_tansu(dir.path(), plain_port, port, authentication);
        let mut broker = Broker {
            port,
            plain_port,
            child,
            stunnel: None,
            dir,
        };
        wait_for_port(plain_port, "tansu", || broker_log(broker_dir(&broker)));
        if tls {
            broker.stunnel = Some(start_stunnel(broker.dir.path(), port, plain_port));
            wait_for_port(port, "stunnel", || broker_log(broker_dir(&broker)));
        }
        broker
    }

    /// Stops the broker and starts it again on the same storage and ports.
    pub fn restart(&mut self, authentication: bool) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn_tansu(self.dir.path(), self.plain_port, self.port, authentication);
        wait_for_port(self.plain_port, "tansu", || broker_log(self.dir.path()));
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        broker_log(self.dir.path())
    }

    pub fn tls_files(&self) -> TlsFiles {
        let d = self.dir.path();
        TlsFiles {
            ca: d.join("ca.pem"),
            client_cert: d.join("client.pem"),
            client_key: d.join("client.key"),
        }
    }

    fn tool(&self, args: &[&str]) {
        let url = format!("tcp://127.0.0.1:{}", self.plain_port);
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--broker", &url]);
        let out = Command::new(tansu()).args(&all).output().unwrap();
        assert!(
            out.status.success(),
            "tansu {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Creates a topic with `partitions` partitions.
    pub fn create_topic(&self, name: &str, partitions: u32) {
        self.tool(&[
            "topic",
            "create",
            name,
            "--partitions",
            &partitions.to_string(),
        ]);
    }

    /// Creates a SCRAM-SHA-256 user (on a broker without authentication).
    pub fn create_user(&self, name: &str, password: &str) {
        self.tool(&["user", "create", name, password, "--mechanism", "scram256"]);
    }
}

fn broker_dir(b: &Broker) -> &Path {
    b.dir.path()
}

fn broker_log(dir: &Path) -> String {
    let mut s = std::fs::read_to_string(dir.join("tansu.log")).unwrap_or_default();
    s.push_str(&std::fs::read_to_string(dir.join("stunnel.log")).unwrap_or_default());
    s
}

/// A CA, a server certificate for 127.0.0.1/localhost and a client certificate, all written as
/// PEM into `dir`; then stunnel on `accept` forwarding to `connect`, requiring a client cert.
fn start_stunnel(dir: &Path, accept: u16, connect: u16) -> Child {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(
        DnType::CommonName,
        format!("uptimer kafka test CA {}", uuid::Uuid::new_v4()),
    );
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let leaf = |names: Vec<String>, eku: ExtendedKeyUsagePurpose| {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(names.clone()).unwrap();
        p.distinguished_name
            .push(DnType::CommonName, names[0].clone());
        p.extended_key_usages = vec![eku];
        (
            p.signed_by(&key, &issuer).unwrap().pem(),
            key.serialize_pem(),
        )
    };
    let (server_pem, server_key) = leaf(
        vec!["localhost".into(), "127.0.0.1".into()],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (client_pem, client_key) = leaf(
        vec!["uptimer-client".into()],
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    for (name, body) in [
        ("ca.pem", ca_cert.pem()),
        ("server.pem", server_pem),
        ("server.key", server_key),
        ("client.pem", client_pem),
        ("client.key", client_key),
    ] {
        std::fs::write(dir.join(name), body).unwrap();
    }
    let conf = format!(
        "foreground = yes\npid =\noutput = {log}\n[kafka]\naccept = 127.0.0.1:{accept}\nconnect = 127.0.0.1:{connect}\ncert = {d}/server.pem\nkey = {d}/server.key\nCAfile = {d}/ca.pem\nverify = 2\n",
        d = dir.display(),
        log = dir.join("stunnel.log").display(),
    );
    std::fs::write(dir.join("stunnel.conf"), conf).unwrap();
    let bin = if Path::new("/usr/bin/stunnel4").exists() {
        "stunnel4"
    } else {
        "stunnel"
    };
    Command::new(bin)
        .arg(dir.join("stunnel.conf"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start stunnel (scripts/test installs stunnel4)")
}

impl Drop for Broker {
    fn drop(&mut self) {
        for c in [Some(&mut self.child), self.stunnel.as_mut()]
            .into_iter()
            .flatten()
        {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A topic or group name no other test uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}
