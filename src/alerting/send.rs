//! Sending a [`Request`] and judging the provider's answer: delivered on a 2xx; tried again
//! later on 429, 5xx, a timeout or a connection error, when the provider asks (`Retry-After`,
//! Discord's `retry_after`, Telegram's `parameters.retry_after`) or else with a growing
//! backoff; refused for good on any other answer. Redirects are not followed (a webhook that
//! redirects is misconfigured) and at most [`MAX_ANSWER`] bytes of an answer are read.

use std::time::Duration;

use http::StatusCode;

use super::request::Request;
use crate::config::alerting::Channel;
use crate::store::alerts::{Delivery, Notice};
use crate::store::{Micros, SECOND};

/// The most of a provider's answer that is read.
pub const MAX_ANSWER: usize = 64 * 1024;
/// The most of an answer that is kept in the outbox.
const KEPT_ANSWER: usize = 512;
/// How long one request may take.
pub const TIMEOUT: Duration = Duration::from_secs(15);
/// The longest wait between two attempts.
const MAX_BACKOFF: Micros = 10 * 60 * SECOND;
/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Micros = 60 * 60 * SECOND;

/// The client notifications are sent with: public roots, names checked, no redirects.
pub fn client() -> Result<reqwest::Client, String> {
    let tls = crate::tls::Verifier::new(
        crate::tls::provider(),
        crate::tls::Check::ChainAndName(crate::tls::public_roots()),
    )
    .map_err(|e| e.to_string())?
    .client_config()
    .map_err(|e| e.to_string())?;
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("uptimer/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("the alert HTTP client: {e}"))
}

/// The wait before attempt `attempts + 1` when the provider did not say.
pub fn backoff(attempts: u32) -> Micros {
    (2 * SECOND)
        .saturating_mul(1 << attempts.min(16))
        .min(MAX_BACKOFF)
}

/// Seconds a provider asked to wait: the `Retry-After` header (seconds or an HTTP date), or
/// Discord's `retry_after` and Telegram's `parameters.retry_after` in a JSON body.
fn retry_after(headers: &reqwest::header::HeaderMap, body: &[u8], now: Micros) -> Option<Micros> {
    let from_header = headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let v = v.trim();
            if let Ok(s) = v.parse::<f64>() {
                return Some((s * SECOND as f64) as Micros);
            }
            let at = time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc2822)
                .ok()?;
            Some(crate::store::to_micros(at) - now)
        });
    let from_body = || {
        let v: serde_json::Value = serde_json::from_slice(body).ok()?;
        let s = v
            .get("retry_after")
            .or_else(|| v.get("parameters").and_then(|p| p.get("retry_after")))?
            .as_f64()?;
        Some((s * SECOND as f64) as Micros)
    };
    from_header
        .or_else(from_body)
        .map(|d| d.clamp(SECOND, MAX_RETRY_AFTER))
}

/// The answer as the outbox keeps it: status and the start of the body, secrets masked.
fn shown_answer(c: &Channel, status: StatusCode, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(KEPT_ANSWER)]);
    c.mask(format!("{} {}", status.as_u16(), text.trim()).trim())
}

/// Judges a provider's answer.
pub fn judge(
    c: &Channel,
    status: StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
    attempts: u32,
    now: Micros,
) -> Delivery {
    let answer = shown_answer(c, status, body);
    if status.is_success() {
        return Delivery::Sent { answer };
    }
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        let wait = retry_after(headers, body, now).unwrap_or_else(|| backoff(attempts));
        return Delivery::Retry {
            retry_at: now + wait,
            error: answer,
        };
    }
    Delivery::Failed { error: answer }
}

/// Reads at most [`MAX_ANSWER`] bytes of the body.
async fn capped_body(mut r: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut out = Vec::new();
    while let Some(chunk) = r.chunk().await? {
        let room = MAX_ANSWER - out.len();
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= MAX_ANSWER {
            break;
        }
    }
    Ok(out)
}

/// Notifies channel `c` of `n`, over HTTP or (email) SMTP; `attempts` is how many were made
/// before.
pub async fn notify(client: &reqwest::Client, c: &Channel, n: &Notice, attempts: u32) -> Delivery {
    if let Some(e) = &c.email {
        return super::email::send(c, e, n, attempts).await;
    }
    match super::request::build(c, n) {
        Some(req) => send(client, c, req, attempts).await,
        None => Delivery::Failed {
            error: format!("a {} channel has no HTTP request", c.kind),
        },
    }
}

/// Sends `req` for channel `c` and judges the outcome; `attempts` is how many were made
/// before.
pub async fn send(client: &reqwest::Client, c: &Channel, req: Request, attempts: u32) -> Delivery {
    let mut builder = client.post(&req.url).body(req.body);
    for (k, v) in &req.headers {
        builder = builder.header(k, v);
    }
    let outcome = async {
        let r = builder.send().await?;
        let status = r.status();
        let headers = r.headers().clone();
        let body = capped_body(r).await?;
        Ok::<_, reqwest::Error>((status, headers, body))
    }
    .await;
    let now = crate::store::now_micros();
    match outcome {
        Ok((status, headers, body)) => judge(c, status, &headers, &body, attempts, now),
        Err(e) => {
            // Connection errors and timeouts: tried again. reqwest's text names the URL,
            // which for chat webhooks is the secret: masked.
            let text = crate::readers::probes::net::describe(&e);
            if e.is_builder() || e.is_redirect() {
                return Delivery::Failed {
                    error: c.mask(&text),
                };
            }
            Delivery::Retry {
                retry_at: now + backoff(attempts),
                error: c.mask(&text),
            }
        }
    }
}
