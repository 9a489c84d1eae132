//! The `uptimer` binary under test: a command with a clean environment, run to its end off the
//! async runtime, or kept [`Running`] while the test watches its output, then stopped with
//! SIGTERM. A process a test started is killed when the test ends, however it ends.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::net::get_body;
use super::wait::PATIENCE;

/// How long a run of the binary to its end may take before the test fails (and kills it).
pub const RUN_LIMIT: Duration = Duration::from_secs(120);

/// Prefixes and names of the settings a developer's shell may export; none reaches the binary.
const SETTING_PREFIXES: &[&str] = &[
    "PROBE_",
    "KAFKA_",
    "WEB_",
    "STATUS_",
    "SQLITE_",
    "POSTGRES_",
    "DISTRIBUTED_",
    "STDOUT_",
    "METRICS_",
    "SHUTDOWN_",
    "HEARTBEAT_",
    "FLEET_",
];
const SETTINGS: &[&str] = &[
    "LOG_LEVEL",
    "COLUMNS",
    "DATABASE_URL",
    "DATA_DIR",
    "EVENT_FORMAT",
    "UPTIMER_SERVER",
    "LOCATION",
];

/// The binary, run in `dir`, with none of the test environment's settings (only what a test
/// sets reaches it) and an empty stdin.
pub fn uptimer(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_uptimer"));
    c.current_dir(dir).stdin(Stdio::null());
    for (k, _) in std::env::vars_os() {
        let Some(name) = k.to_str() else { continue };
        if name.ends_with("_PLUGIN")
            || SETTINGS.contains(&name)
            || SETTING_PREFIXES.iter().any(|p| name.starts_with(p))
        {
            c.env_remove(&k);
        }
    }
    c
}

/// `uptimer serve --config u.yaml --listen 127.0.0.1:PORT` in `dir`, keeping its data in
/// `dir/data`: the server the CLI and status page tests talk to (each adds its settings).
pub fn serve_u_yaml(dir: &Path, port: u16) -> Command {
    let mut c = uptimer(dir);
    c.args([
        "serve",
        "--config",
        "u.yaml",
        "--listen",
        &format!("127.0.0.1:{port}"),
    ])
    .env("DATA_DIR", "data");
    c
}

/// Runs `c` to its end off the async runtime, so that test servers on the runtime keep
/// serving; fails the test if it takes longer than [`RUN_LIMIT`].
pub async fn output(c: Command) -> Output {
    off_runtime(move || Running::spawn(c).wait(RUN_LIMIT)).await
}

/// Runs blocking `f` (waiting for a process, reading its output) on a thread of its own, so
/// the test servers on the async runtime keep serving meanwhile.
pub async fn off_runtime<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

/// What a process wrote on stdout.
/// A command's standard output, after checking it succeeded (saying what it printed if not).
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{:?}: {}{}",
        out.status,
        stdout(out),
        stderr(out)
    );
    stdout(out)
}

/// Checks a command exited with `code` and said `says` on its standard error.
pub fn failed_with(out: &Output, code: i32, says: &str) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}{}",
        stdout(out),
        stderr(out)
    );
    assert!(
        stderr(out).contains(says),
        "expected {says:?} in: {}",
        stderr(out)
    );
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What a process wrote on stderr (its log).
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Every stdout line as JSON (events); fails the test on a line that is not.
pub fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Sends SIGTERM to the process `pid`.
pub fn sigterm(pid: u32) {
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -TERM {pid}: {status}");
}

/// Starts `uptimer serve …` and waits until it has started up (it says so in its log), so that
/// what the test does next, a SIGTERM included, meets a process that is ready for it.
pub fn start_serve(c: Command) -> Running {
    let p = Running::spawn(c);
    p.wait_for_stderr("serve to start", PATIENCE, |l| {
        l.contains("uptimer serve started") || l.contains("serving the")
    });
    p
}

/// `uptimer serve --config CONFIG` in `dir` (its store under `dir/data`) on a port of its
/// choice, read from its log: the process and the port, once `/healthz` answers.
pub fn serve_any_port(dir: &Path, config: &str) -> (Running, u16) {
    let mut cmd = uptimer(dir);
    cmd.args(["serve", "--config", config, "--listen", "127.0.0.1:0"])
        .env("DATA_DIR", dir.join("data"))
        .env("LOG_LEVEL", "info");
    let serve = Running::spawn(cmd);
    // Its listener's line, not a target's URL in a warning.
    let at = "url=http://127.0.0.1:";
    let line = serve.wait_for_stderr("serve logs its address", PATIENCE, |l| {
        l.contains("listening") && l.contains(at)
    });
    let port: u16 = line[line.find(at).unwrap() + at.len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap();
    assert_eq!(get_body(port, "/healthz").as_deref(), Some("ok\n"));
    (serve, port)
}

/// A started process whose stdout and stderr are read as they come (a full pipe never blocks
/// it). Dropped while it runs, it is killed, and its log printed if the test is failing.
pub struct Running {
    child: Child,
    stdout: Option<Pipe>,
    stderr: Option<Pipe>,
}

impl Running {
    /// Starts `c` with stdout and stderr piped to the test.
    pub fn spawn(c: Command) -> Running {
        Running::spawn_valved(c, &Valve::default())
    }

    /// Like [`Running::spawn`], reading stdout only while `stdout` is open: closed, the pipe's
    /// buffer fills and the process's writes to stdout block (a consumer that stalled).
    pub fn spawn_valved(mut c: Command, stdout: &Valve) -> Running {
        let mut child = c
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", c.get_program()));
        let out = Pipe::read(child.stdout.take().expect("piped stdout"), stdout.clone());
        let stderr = Pipe::read(child.stderr.take().expect("piped stderr"), Valve::default());
        Running {
            child,
            stdout: Some(out),
            stderr: Some(stderr),
        }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The next stdout line not yet taken, waiting at most `within`; `None` at the end of the
    /// output or when the time is up.
    pub fn stdout_line(&self, within: Duration) -> Option<String> {
        self.stdout.as_ref().expect("stdout").next_line(within)
    }

    /// Up to `n` more stdout lines, as many as come within `within`.
    pub fn stdout_lines(&self, n: usize, within: Duration) -> Vec<String> {
        let deadline = Instant::now() + within;
        let mut lines = Vec::new();
        while lines.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout_line(left) {
                Some(l) => lines.push(l),
                None => break,
            }
        }
        lines
    }

    /// Takes stdout lines until one for which `wanted` holds, and returns it; fails the test,
    /// with the log, when none comes within `within`.
    pub fn wait_for_stdout(
        &self,
        what: &str,
        within: Duration,
        wanted: impl FnMut(&str) -> bool,
    ) -> String {
        let found = self.stdout.as_ref().expect("stdout").find(within, wanted);
        found.unwrap_or_else(|| self.fail(what, within))
    }

    /// Like [`Running::wait_for_stdout`], on stderr (the log).
    pub fn wait_for_stderr(
        &self,
        what: &str,
        within: Duration,
        wanted: impl FnMut(&str) -> bool,
    ) -> String {
        let found = self.stderr.as_ref().expect("stderr").find(within, wanted);
        found.unwrap_or_else(|| self.fail(what, within))
    }

    /// What the process logged so far.
    pub fn stderr_so_far(&self) -> String {
        self.stderr.as_ref().expect("stderr").text()
    }

    fn fail(&self, what: &str, within: Duration) -> ! {
        panic!(
            "{what}: not within {within:?}; the log so far:\n{}",
            self.stderr_so_far()
        )
    }

    /// Waits for the process to end by itself, at most `within` (then kills it and fails).
    pub fn wait(mut self, within: Duration) -> Output {
        let deadline = Instant::now() + within;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                self.fail("the process to end", within);
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        self.collect(status)
    }

    /// Stops the process with SIGTERM, as a service manager would, and waits for it to end.
    pub fn terminate(self) -> Output {
        sigterm(self.id());
        self.wait(PATIENCE)
    }

    /// Stops the process with SIGKILL (a crash: nothing is flushed).
    pub fn kill(mut self) -> Output {
        let _ = self.child.kill();
        let status = self.child.wait().expect("wait for the killed process");
        self.collect(status)
    }

    fn collect(&mut self, status: ExitStatus) -> Output {
        Output {
            status,
            stdout: self.stdout.take().expect("stdout").finish(),
            stderr: self.stderr.take().expect("stderr").finish(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking()
            && let Some(err) = &self.stderr
        {
            eprintln!("--- log of {} ---\n{}", self.child.id(), err.text());
        }
    }
}

/// Whether the test reads a process's stdout ([`Running::spawn_valved`]); open at first.
/// Collecting the output of a process that ended opens it.
#[derive(Clone, Default)]
pub struct Valve(Arc<(Mutex<bool>, Condvar)>);

impl Valve {
    /// Stops reading (after the line being read).
    pub fn close(&self) {
        *self.0.0.lock().unwrap() = true;
    }

    /// Reads again.
    pub fn open(&self) {
        *self.0.0.lock().unwrap() = false;
        self.0.1.notify_all();
    }

    fn wait_open(&self) {
        let (closed, cv) = &*self.0;
        let _open = cv.wait_while(closed.lock().unwrap(), |c| *c).unwrap();
    }
}

/// One output stream of a process, read on a thread of its own: every byte is kept, and each
/// line is also handed to the test as it arrives.
struct Pipe {
    lines: Receiver<String>,
    all: Arc<Mutex<Vec<u8>>>,
    reader: JoinHandle<()>,
    valve: Valve,
}

impl Pipe {
    fn read(pipe: impl Read + Send + 'static, valve: Valve) -> Pipe {
        let (tx, lines) = channel();
        let all = Arc::new(Mutex::new(Vec::new()));
        let sink = all.clone();
        let gate = valve.clone();
        let reader = std::thread::spawn(move || {
            let mut pipe = BufReader::new(pipe);
            let mut line = Vec::new();
            while {
                gate.wait_open();
                matches!(pipe.read_until(b'\n', &mut line), Ok(n) if n > 0)
            } {
                sink.lock().unwrap().extend_from_slice(&line);
                let text = String::from_utf8_lossy(&line);
                // The test may have stopped listening; the bytes are kept all the same.
                let _ = tx.send(text.trim_end_matches(['\n', '\r']).to_owned());
                line.clear();
            }
        });
        Pipe {
            lines,
            all,
            reader,
            valve,
        }
    }

    fn next_line(&self, within: Duration) -> Option<String> {
        self.lines.recv_timeout(within).ok()
    }

    fn find(&self, within: Duration, mut wanted: impl FnMut(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let line = self.next_line(left)?;
            if wanted(&line) {
                return Some(line);
            }
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.all.lock().unwrap()).into_owned()
    }

    /// Everything the stream carried, once it has ended.
    fn finish(self) -> Vec<u8> {
        self.valve.open();
        let _ = self.reader.join();
        std::mem::take(&mut *self.all.lock().unwrap())
    }
}

/// Writes `text` to `path` as editors do: beside it, then renamed over it (a file watcher must
/// see the change all the same).
pub fn write_renamed(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Sends SIGHUP to the process `pid` (a reload).
pub fn hangup(pid: u32) {
    let status = Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}
