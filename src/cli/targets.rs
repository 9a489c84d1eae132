//! `uptimer targets list|add|rm|pause|resume`: the live targets of a running `uptimer serve`,
//! through its JSON API; and `uptimer incident ack ID`, its incidents. The server is `--server` (or `UPTIMER_SERVER`, default
//! `http://127.0.0.1:8080`); the credentials are the dashboard's own settings,
//! `WEB_AUTH_TOKEN` or `WEB_AUTH_BASIC`, from the environment or `./configuration.env`.
//! Exit status: 0 done, 1 the server refused (its message on stderr) or could not be reached,
//! 2 bad usage.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

use crate::config::{Env, WebAuth, WebSettings};

/// A request (connect, send, read the answer) gives up after this long.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Targets asked for per page by `list` (the API's maximum).
const PER_PAGE: u32 = 1000;

/// The server an API command talks to, and how it prints.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// The running `uptimer serve` to talk to.
    #[arg(
        long,
        global = true,
        env = "UPTIMER_SERVER",
        default_value = "http://127.0.0.1:8080",
        value_name = "URL"
    )]
    pub server: String,
    /// Print the server's JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TargetsArgs {
    #[command(flatten)]
    pub api: ServerArgs,
    #[command(subcommand)]
    pub command: TargetsCommand,
}

#[derive(Debug, Subcommand)]
pub enum TargetsCommand {
    /// List the targets: id, name, URL, source (file, env, api) and whether paused.
    List {
        /// Only paused targets (true) or only running ones (false).
        #[arg(long, value_name = "BOOL")]
        paused: Option<bool>,
        /// Only targets with this tag.
        #[arg(long)]
        tag: Option<String>,
    },
    /// Add a target: from flags, or a whole target object (YAML or JSON, as in the config
    /// file) with --file.
    Add(AddArgs),
    /// Remove a target the API made (its history stays, marked removed).
    Rm {
        /// The target's id.
        id: String,
    },
    /// Pause a target (of any source): it is not probed until resumed.
    Pause {
        /// The target's id.
        id: String,
    },
    /// Resume a paused target.
    Resume {
        /// The target's id.
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// The URL to check (http://, https://, tcp://, …).
    #[arg(long, required_unless_present = "file", conflicts_with = "file")]
    pub url: Option<String>,
    /// A name to show [default: the URL].
    #[arg(long, conflicts_with = "file")]
    pub name: Option<String>,
    /// The target's id [default: one the server picks].
    #[arg(long, conflicts_with = "file")]
    pub id: Option<String>,
    /// Seconds between checks, or a duration such as 30s or 5m [default: the server's].
    #[arg(long, conflicts_with = "file")]
    pub interval: Option<String>,
    /// A check's time limit, as --interval [default: the server's].
    #[arg(long, conflicts_with = "file")]
    pub timeout: Option<String>,
    /// A tag (repeat for several).
    #[arg(long = "tag", value_name = "TAG", conflicts_with = "file")]
    pub tags: Vec<String>,
    /// A YAML or JSON file holding one target object, as in the config file's `targets:`.
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
}

/// Why a command failed: its exit status tells which.
#[derive(Debug, thiserror::Error)]
enum Failure {
    /// Bad usage or settings (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The server refused, or could not be reached (exit 1).
    #[error("{0}")]
    Server(String),
}

pub fn targets(args: TargetsArgs) -> ExitCode {
    finish("targets", block_on(run(args)))
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("cannot start the async runtime")
        .block_on(f)
}

fn finish(command: &str, done: Result<(), Failure>) -> ExitCode {
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(e)) => {
            eprintln!("uptimer: {command}: {e}");
            ExitCode::from(super::EXIT_CONFIG)
        }
        Err(Failure::Server(e)) => {
            eprintln!("uptimer: {command}: {e}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Debug, Args)]
pub struct IncidentArgs {
    #[command(flatten)]
    pub api: ServerArgs,
    #[command(subcommand)]
    pub command: IncidentCommand,
}

#[derive(Debug, Subcommand)]
pub enum IncidentCommand {
    /// Acknowledge an open incident: its reminders stop until it resolves, and PagerDuty and
    /// Opsgenie are told.
    Ack {
        /// The incident's id (the incidents page, /api/v1/incidents).
        id: i64,
        /// Who acknowledges (default: the WEB_AUTH_BASIC user, if any).
        #[arg(long)]
        by: Option<String>,
    },
}

pub fn incident(args: IncidentArgs) -> ExitCode {
    finish(
        "incident",
        block_on(async {
            let client = Client::new(&args.api.server, auth()?)?;
            let IncidentCommand::Ack { id, by } = args.command;
            let body = match by {
                Some(b) => json!({ "by": b }),
                None => json!({}),
            };
            let answer = client
                .call("POST", &format!("incidents/{id}/ack"), Some(&body))
                .await?;
            if args.api.json {
                println!("{answer}");
            } else if answer["already"] == true {
                println!(
                    "incident {id} was acknowledged already, at {}",
                    answer["acknowledged_at"].as_str().unwrap_or("?")
                );
            } else {
                println!("acknowledged incident {id}");
            }
            Ok(())
        }),
    )
}

async fn run(args: TargetsArgs) -> Result<(), Failure> {
    let client = Client::new(&args.api.server, auth()?)?;
    let json_out = args.api.json;
    match args.command {
        TargetsCommand::List { paused, tag } => {
            let mut all = Vec::new();
            for page in 1.. {
                let mut query = format!("per_page={PER_PAGE}&page={page}");
                if let Some(p) = paused {
                    query.push_str(&format!("&paused={p}"));
                }
                if let Some(t) = &tag {
                    query.push_str("&tag=");
                    query.extend(percent_encoding::utf8_percent_encode(
                        t,
                        percent_encoding::NON_ALPHANUMERIC,
                    ));
                }
                let answer = client
                    .call("GET", &format!("targets?{query}"), None)
                    .await?;
                let batch = answer["targets"].as_array().cloned().unwrap_or_default();
                let done = batch.len() < PER_PAGE as usize;
                all.extend(batch);
                if done {
                    break;
                }
            }
            if json_out {
                println!("{}", Value::Array(all));
            } else {
                print!("{}", table(&all));
            }
        }
        TargetsCommand::Add(add) => {
            let body = add_body(&add)?;
            let made = client.call("POST", "targets", Some(&body)).await?;
            print_target(&made, json_out, "added");
        }
        TargetsCommand::Rm { id } => {
            client.call("DELETE", &target_path(&id), None).await?;
            if json_out {
                println!("{}", json!({ "id": id, "removed": true }));
            } else {
                println!("removed target {id}");
            }
        }
        TargetsCommand::Pause { id } => set_paused(&client, &id, true, json_out).await?,
        TargetsCommand::Resume { id } => set_paused(&client, &id, false, json_out).await?,
    }
    Ok(())
}

async fn set_paused(client: &Client, id: &str, pause: bool, as_json: bool) -> Result<(), Failure> {
    let (verb, done) = if pause {
        ("pause", "paused")
    } else {
        ("resume", "resumed")
    };
    // An empty object: the API asks every POST to declare JSON.
    let path = format!("{}/{verb}", target_path(id));
    let t = client.call("POST", &path, Some(&json!({}))).await?;
    print_target(&t, as_json, done);
    Ok(())
}

/// The dashboard's credentials, from the environment over `./configuration.env`.
fn auth() -> Result<Option<WebAuth>, Failure> {
    let env = Env::load(Path::new("configuration.env"))
        .map_err(|e| Failure::Usage(format!("configuration.env: {e}")))?;
    WebSettings::from_env(&env)
        .map(|w| w.auth)
        .map_err(|e| Failure::Usage(e.to_string()))
}

fn target_path(id: &str) -> String {
    format!(
        "targets/{}",
        percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC)
    )
}

/// The target object `add` sends.
fn add_body(add: &AddArgs) -> Result<Value, Failure> {
    if let Some(path) = &add.file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::Usage(format!("--file {}: {e}", path.display())))?;
        // YAML is a superset of JSON: one parser reads both.
        let body: Value = serde_yaml_ng::from_str(&text).map_err(|e| {
            Failure::Usage(format!(
                "--file {}: expected a YAML or JSON target object ({e})",
                path.display()
            ))
        })?;
        if !body.is_object() {
            return Err(Failure::Usage(format!(
                "--file {}: expected one target object (url: …, name: …), as an item of the \
                 config file's targets:",
                path.display()
            )));
        }
        return Ok(body);
    }
    let mut body = serde_json::Map::new();
    let mut put = |key: &str, v: Value| {
        body.insert(key.to_owned(), v);
    };
    if let Some(u) = &add.url {
        put("url", json!(u));
    }
    if let Some(n) = &add.name {
        put("name", json!(n));
    }
    if let Some(i) = &add.id {
        put("id", json!(i));
    }
    for (key, v) in [("interval", &add.interval), ("timeout", &add.timeout)] {
        if let Some(v) = v {
            put(key, duration(v));
        }
    }
    if !add.tags.is_empty() {
        put("tags", json!(add.tags));
    }
    Ok(Value::Object(body))
}

/// A duration as the config file takes it: a number of seconds as a number, else the text
/// (`30s`, `5m`) for the server to read.
fn duration(v: &str) -> Value {
    let v = v.trim();
    if let Ok(n) = v.parse::<i64>() {
        return json!(n);
    }
    match v.parse::<f64>() {
        Ok(n) if n.is_finite() => json!(n),
        _ => json!(v),
    }
}

fn print_target(t: &Value, as_json: bool, what: &str) {
    if as_json {
        println!("{t}");
    } else {
        println!(
            "{what} target {} ({}, {})",
            t["id"].as_str().unwrap_or_default(),
            t["name"].as_str().unwrap_or_default(),
            t["url"].as_str().unwrap_or_default()
        );
    }
}

/// The list as a table: id, name, URL, source, paused.
fn table(targets: &[Value]) -> String {
    let rows: Vec<[String; 5]> = targets
        .iter()
        .map(|t| {
            let text = |k: &str| t[k].as_str().unwrap_or("-").to_owned();
            [
                text("id"),
                text("name"),
                text("url"),
                text("source"),
                if t["paused"] == json!(true) {
                    "yes".into()
                } else {
                    "no".into()
                },
            ]
        })
        .collect();
    let head = ["ID", "NAME", "URL", "SOURCE", "PAUSED"].map(String::from);
    let mut widths = head.clone().map(|h| h.chars().count());
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in std::iter::once(&head).chain(&rows) {
        let cells: Vec<String> = r
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// An HTTP/1.1 client of one server's API (plain HTTP: put a TLS-terminating proxy's
/// `http://` address on the same machine, or reach it over an SSH tunnel).
struct Client {
    /// The host and port to connect to.
    connect: (String, u16),
    /// The `Host` header.
    host: String,
    /// The API's base path, ending in `/api/v1/`.
    base: String,
    authorization: Option<String>,
}

impl Client {
    fn new(server: &str, auth: Option<WebAuth>) -> Result<Client, Failure> {
        let bad = |why: &str| {
            Failure::Usage(format!(
                "--server {server:?}: expected a URL such as http://127.0.0.1:8080 ({why})"
            ))
        };
        let url = url::Url::parse(server.trim()).map_err(|e| bad(&e.to_string()))?;
        match url.scheme() {
            "http" => {}
            "https" => {
                return Err(bad(
                    "https is not spoken here: use the http:// address of the server itself",
                ));
            }
            s => return Err(bad(&format!("scheme {s:?}"))),
        }
        let host = url.host_str().ok_or_else(|| bad("no host"))?;
        let port = url.port_or_known_default().unwrap_or(80);
        use base64::Engine as _;
        let authorization = auth.map(|a| match a {
            WebAuth::Token(t) => format!("Bearer {}", t.expose()),
            WebAuth::Basic { user, password } => format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD
                    .encode(format!("{user}:{}", password.expose()))
            ),
        });
        Ok(Client {
            // An IPv6 literal keeps its brackets in Host, not when connected to.
            connect: (host.trim_matches(['[', ']']).to_owned(), port),
            host: format!("{host}:{port}"),
            base: format!("{}/api/v1/", url.path().trim_end_matches('/')),
            authorization,
        })
    }

    /// `method` on `path` (under `/api/v1/`) with `body` as JSON: the answer's JSON (null
    /// when it has none), or the server's message.
    async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, Failure> {
        let uri = format!("{}{path}", self.base);
        let send = self.send(method, &uri, body);
        let (status, text) = tokio::time::timeout(TIMEOUT, send).await.map_err(|_| {
            Failure::Server(format!(
                "{method} http://{}{uri}: no answer within {}s",
                self.host,
                TIMEOUT.as_secs()
            ))
        })??;
        let answer: Value = if text.iter().all(u8::is_ascii_whitespace) {
            Value::Null
        } else {
            serde_json::from_slice(&text).unwrap_or(Value::Null)
        };
        if status.is_success() {
            return Ok(answer);
        }
        Err(Failure::Server(format!(
            "{method} {uri}: {status}: {}",
            message(&answer, &text)
        )))
    }

    async fn send(
        &self,
        method: &str,
        uri: &str,
        body: Option<&Value>,
    ) -> Result<(http::StatusCode, bytes::Bytes), Failure> {
        let failed = |e: &dyn std::fmt::Display| {
            Failure::Server(format!("{method} http://{}{uri}: {e}", self.host))
        };
        let stream = tokio::net::TcpStream::connect((self.connect.0.as_str(), self.connect.1))
            .await
            .map_err(|e| failed(&format!("cannot connect ({e}); is uptimer serve running?")))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| failed(&e))?;
        tokio::spawn(conn);
        let mut req = http::Request::builder()
            .method(method)
            .uri(uri)
            .header(http::header::HOST, &self.host)
            .header(http::header::ACCEPT, "application/json");
        if let Some(a) = &self.authorization {
            req = req.header(http::header::AUTHORIZATION, a);
        }
        let payload = match body {
            Some(b) => {
                req = req.header(http::header::CONTENT_TYPE, "application/json");
                bytes::Bytes::from(b.to_string())
            }
            None => bytes::Bytes::new(),
        };
        let req = req
            .body(Full::new(payload))
            .map_err(|e| Failure::Usage(format!("a request to {uri}: {e}")))?;
        let res = sender.send_request(req).await.map_err(|e| failed(&e))?;
        let status = res.status();
        let text = res
            .into_body()
            .collect()
            .await
            .map_err(|e| failed(&e))?
            .to_bytes();
        Ok((status, text))
    }
}

/// What the server said went wrong: each field's error, its message, or the start of its
/// answer.
fn message(answer: &Value, raw: &[u8]) -> String {
    if let Some(errors) = answer["errors"].as_array() {
        return errors
            .iter()
            .map(|e| {
                let field = e["field"].as_str().unwrap_or_default();
                let m = e["message"].as_str().unwrap_or_default();
                if field.is_empty() {
                    m.to_owned()
                } else {
                    format!("{field}: {m}")
                }
            })
            .collect::<Vec<_>>()
            .join("; ");
    }
    if let Some(m) = answer["error"].as_str() {
        return m.to_owned();
    }
    String::from_utf8_lossy(&raw[..raw.len().min(300)])
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_flags_make_a_target_object() {
        let add = AddArgs {
            url: Some("http://127.0.0.1:1/".into()),
            name: Some("n".into()),
            id: None,
            interval: Some(" 30".into()),
            timeout: Some("5s".into()),
            tags: vec!["a".into(), "b".into()],
            file: None,
        };
        assert_eq!(
            add_body(&add).unwrap(),
            json!({"url": "http://127.0.0.1:1/", "name": "n", "interval": 30,
                   "timeout": "5s", "tags": ["a", "b"]})
        );
    }

    #[test]
    fn durations_go_as_numbers_when_they_are_and_as_text_otherwise() {
        assert_eq!(duration("30"), json!(30));
        assert_eq!(duration("0.5"), json!(0.5));
        assert_eq!(duration("5m"), json!("5m"));
        assert_eq!(duration("NaN"), json!("NaN"));
    }

    #[test]
    fn server_urls_give_the_address_host_and_base_path() {
        let c = Client::new("http://127.0.0.1:9000", None).unwrap();
        assert_eq!(c.connect, ("127.0.0.1".to_owned(), 9000));
        assert_eq!(c.base, "/api/v1/");
        let c = Client::new("http://[::1]:9000/uptimer/", None).unwrap();
        assert_eq!(c.connect, ("::1".to_owned(), 9000));
        assert_eq!(c.host, "[::1]:9000");
        assert_eq!(c.base, "/uptimer/api/v1/");
        let c = Client::new("http://localhost", None).unwrap();
        assert_eq!(c.connect, ("localhost".to_owned(), 80));
        for bad in ["127.0.0.1:8080", "https://h/", "ftp://h/"] {
            assert!(
                matches!(Client::new(bad, None), Err(Failure::Usage(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_servers_field_errors_are_shown_one_by_one() {
        let a =
            json!({"errors": [{"field": "url", "message": "bad"}, {"field": "", "message": "x"}]});
        assert_eq!(message(&a, b""), "url: bad; x");
        assert_eq!(message(&json!({"error": "no"}), b""), "no");
        assert_eq!(message(&Value::Null, b" plain "), "plain");
    }

    #[test]
    fn the_table_lines_up_its_columns() {
        let t = table(&[json!({"id": "a", "name": "long name", "url": "http://x/",
                               "source": "api", "paused": true})]);
        assert_eq!(
            t,
            "ID  NAME       URL        SOURCE  PAUSED\na   long name  http://x/  api     yes\n"
        );
    }
}
