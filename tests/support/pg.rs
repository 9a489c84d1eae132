//! PostgreSQL for the tests: a fresh database per test on the shared server
//! (`UPTIMER_TEST_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`; scripts/test
//! starts or installs it), and private clusters (initdb + pg_ctl as the postgres user, random
//! port) for tests that stop the server, so the shared one is never stopped.

use std::path::{Path, PathBuf};
use std::process::Command;

use tokio_postgres::{Client, NoTls};
use uptimer::postgres::{migrate, partitions};

use super::net::free_port;

/// The shared server's URL (the maintenance database).
pub fn server_url() -> String {
    std::env::var("UPTIMER_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn with_dbname(url: &str, db: &str) -> String {
    let mut u = url::Url::parse(url).expect("UPTIMER_TEST_DATABASE_URL is a postgres:// URL");
    u.set_path(&format!("/{db}"));
    u.to_string()
}

pub async fn connect(url: &str) -> Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!("cannot connect to {url} (is PostgreSQL running? scripts/test starts it): {e}")
        });
    tokio::spawn(conn);
    client
}

/// A client of `url` whose database has every migration applied and today's partitions.
pub async fn migrated(url: &str) -> Client {
    let mut c = connect(url).await;
    migrate::up(&mut c).await.expect("migrate up");
    partitions::maintain(&mut c, None)
        .await
        .expect("make partitions");
    c
}

/// A database created for one test and dropped after it.
pub struct TestDb {
    pub name: String,
    pub url: String,
    server: String,
}

impl TestDb {
    pub async fn new() -> TestDb {
        Self::on(&server_url()).await
    }

    pub async fn on(server: &str) -> TestDb {
        let name = format!("uptimer_test_{}", uuid::Uuid::new_v4().simple());
        let admin = connect(server).await;
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create test database");
        TestDb {
            url: with_dbname(server, &name),
            name,
            server: server.to_owned(),
        }
    }

    pub async fn client(&self) -> Client {
        connect(&self.url).await
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let server = self.server.clone();
        let name = self.name.clone();
        // Drop runs inside the test's runtime: use a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok((c, conn)) = tokio_postgres::connect(&server, NoTls).await {
                    tokio::spawn(conn);
                    let _ = c
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            });
        })
        .join();
    }
}

/// The PostgreSQL server binaries (initdb, pg_ctl) of the newest installed version.
pub fn pg_bin_dir() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server binaries under /usr/lib/postgresql (apt-get install postgresql)")
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    dirs.sort();
    dirs.pop()
        .expect("an initdb under /usr/lib/postgresql/*/bin")
}

/// Runs a server binary as the postgres user (initdb refuses root).
fn as_postgres(bin: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(bin)
        .args(args)
        .output()
        .expect("runuser");
    assert!(
        out.status.success(),
        "{} {args:?} failed: {}{}",
        bin.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A private server on a random port, stopped (and its files removed) when dropped.
pub struct PrivateCluster {
    pub port: u16,
    dir: tempfile::TempDir,
    bin: PathBuf,
}

impl PrivateCluster {
    pub fn start() -> PrivateCluster {
        let c = Self::init(&[]);
        c.start_server();
        c
    }

    /// A cluster made but not started; `conf` lines are appended to postgresql.conf.
    pub fn init(conf: &[&str]) -> PrivateCluster {
        let bin = pg_bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("uptimer-pg-")
            .tempdir()
            .unwrap();
        let chown = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(chown.success());
        let data = dir.path().join("data");
        as_postgres(
            &bin.join("initdb"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
            ],
        );
        let mut extra = String::from(
            "\nfsync = off\nfull_page_writes = off\nlisten_addresses = '127.0.0.1'\nmax_connections = 50\n",
        );
        extra.push_str(&format!(
            "unix_socket_directories = '{}'\n",
            dir.path().display()
        ));
        for l in conf {
            extra.push_str(l);
            extra.push('\n');
        }
        let conf_path = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf_path).unwrap();
        text.push_str(&extra);
        std::fs::write(&conf_path, text).unwrap();
        PrivateCluster {
            port: free_port(),
            dir,
            bin,
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub fn start_server(&self) {
        let log = self.dir.path().join("log");
        let data = self.data_dir();
        as_postgres(
            &self.bin.join("pg_ctl"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-o",
                &format!("-p {}", self.port),
                "-w",
                "-t",
                "30",
                "start",
            ],
        );
    }

    pub fn stop_server(&self) {
        let data = self.data_dir();
        as_postgres(
            &self.bin.join("pg_ctl"),
            &["-D", data.to_str().unwrap(), "-m", "fast", "-w", "stop"],
        );
    }

    /// The server's processes: the postmaster and its children (from postmaster.pid and /proc).
    fn pids(&self) -> Vec<String> {
        let pidfile = std::fs::read_to_string(self.data_dir().join("postmaster.pid")).unwrap();
        let main = pidfile.lines().next().unwrap().trim().to_owned();
        let children = std::fs::read_to_string(format!("/proc/{main}/task/{main}/children"))
            .unwrap_or_default();
        let mut pids = vec![main];
        pids.extend(children.split_whitespace().map(str::to_owned));
        pids
    }

    /// Freezes (SIGSTOP) or thaws (SIGCONT) the server: it hangs without closing connections.
    pub fn freeze(&self, frozen: bool) {
        let sig = if frozen { "-STOP" } else { "-CONT" };
        for pid in self.pids() {
            let _ = Command::new("kill").args([sig, &pid]).status();
        }
    }

    /// Writes a file into the data folder, owned by postgres.
    pub fn put_file(&self, name: &str, contents: &[u8], mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        let p = self.data_dir().join(name);
        std::fs::write(&p, contents).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        Command::new("chown")
            .arg("postgres:postgres")
            .arg(&p)
            .status()
            .unwrap();
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        if self.data_dir().join("postmaster.pid").exists() {
            self.freeze(false);
        }
        let data = self.data_dir();
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args([
                "-D",
                data.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ])
            .output();
    }
}
