//! A fake alert provider on loopback: it records every request (method, path with query,
//! headers, body) and answers as the test scripts it: a queue of answers (a status with
//! headers and a body, or a hang), then its default (200 `ok`). It stands in for every HTTP
//! channel (webhook, Slack, PagerDuty, …), whose base URLs point at it.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// One request the provider received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A scripted answer.
#[derive(Debug, Clone)]
pub enum Answer {
    Status {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// No answer for this long (longer than the sender's timeout: a hang).
    Hang(Duration),
}

impl Answer {
    pub fn status(status: u16) -> Answer {
        Answer::Status {
            status,
            headers: Vec::new(),
            body: String::new(),
        }
    }

    pub fn with_header(self, name: &str, value: &str) -> Answer {
        match self {
            Answer::Status {
                status,
                mut headers,
                body,
            } => {
                headers.push((name.into(), value.into()));
                Answer::Status {
                    status,
                    headers,
                    body,
                }
            }
            hang => hang,
        }
    }

    pub fn with_body(self, text: &str) -> Answer {
        match self {
            Answer::Status {
                status, headers, ..
            } => Answer::Status {
                status,
                headers,
                body: text.into(),
            },
            hang => hang,
        }
    }
}

#[derive(Default)]
struct Inner {
    received: Mutex<Vec<Received>>,
    script: Mutex<VecDeque<Answer>>,
}

/// The provider; dropping it stops it.
pub struct Provider {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    inner.received.lock().unwrap().push(Received {
        method: method.to_string(),
        path: uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
    });
    let next = inner.script.lock().unwrap().pop_front();
    match next {
        None => (StatusCode::OK, "ok").into_response(),
        Some(Answer::Hang(d)) => {
            tokio::time::sleep(d).await;
            (StatusCode::OK, "late").into_response()
        }
        Some(Answer::Status {
            status,
            headers,
            body,
        }) => {
            let mut r = (StatusCode::from_u16(status).unwrap(), body).into_response();
            for (k, v) in headers {
                r.headers_mut().insert(
                    axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    v.parse().unwrap(),
                );
            }
            r
        }
    }
}

impl Provider {
    /// Starts a provider on 127.0.0.1 (on the current tokio runtime).
    pub async fn start() -> Provider {
        let inner = Arc::new(Inner::default());
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Provider { addr, inner, task }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Answers the next requests with these, in order.
    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.inner.script.lock().unwrap().extend(answers);
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.received.lock().unwrap().clone()
    }

    /// Waits until `n` requests have come, within `within`; the requests received.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let got = self.received();
            if got.len() >= n || tokio::time::Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
