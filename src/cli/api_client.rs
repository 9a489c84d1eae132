//! The client of a running `uptimer serve`'s JSON API that `uptimer targets`, `incident`,
//! `silence` and `maintenance` share: the server and output flags, the credentials (the
//! dashboard's own `WEB_AUTH_TOKEN` or `WEB_AUTH_BASIC`, from the environment or
//! `./configuration.env`), the exit status (0 done, 1 the server refused or could not be
//! reached, 2 bad usage) and a plain text table.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;

use crate::config::{Env, WebAuth, WebSettings};

/// A request (connect, send, read the answer) gives up after this long.
const TIMEOUT: Duration = Duration::from_secs(30);

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

/// Why a command failed: its exit status tells which.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Bad usage or settings (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The server refused, or could not be reached (exit 1).
    #[error("{0}")]
    Server(String),
}

pub fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("cannot start the async runtime")
        .block_on(f)
}

pub fn finish(command: &str, done: Result<(), Failure>) -> ExitCode {
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

/// The dashboard's credentials, from the environment over `./configuration.env`.
pub fn auth() -> Result<Option<WebAuth>, Failure> {
    let env = Env::load(Path::new("configuration.env"))
        .map_err(|e| Failure::Usage(format!("configuration.env: {e}")))?;
    WebSettings::from_env(&env)
        .map(|w| w.auth)
        .map_err(|e| Failure::Usage(e.to_string()))
}

/// Rows under a head, each column as wide as its widest cell, two spaces apart.
pub fn table<const N: usize>(head: [&str; N], rows: &[[String; N]]) -> String {
    let mut widths = head.map(|h| h.chars().count());
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let head = head.map(String::from);
    for r in std::iter::once(&head).chain(rows) {
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
pub struct Client {
    /// The host and port to connect to.
    connect: (String, u16),
    /// The `Host` header.
    host: String,
    /// The API's base path, ending in `/api/v1/`.
    base: String,
    authorization: Option<String>,
}

impl Client {
    pub fn new(server: &str, auth: Option<WebAuth>) -> Result<Client, Failure> {
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
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, Failure> {
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
    use serde_json::json;

    use super::*;

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
    fn a_table_lines_up_its_columns() {
        let t = table(["A", "LONGER"], &[["wide cell".into(), "x".into()]]);
        assert_eq!(t, "A          LONGER\nwide cell  x\n");
    }
}
