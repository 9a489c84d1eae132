//! The request each kind of channel makes for a notice, as `../shared/ALERT-CHANNELS.md`
//! pins it: built here without I/O, so tests read every shape exactly; [`super::send`] sends
//! it. Every request is a POST; a request's path is appended to the channel's base URL as
//! text.

use ring::hmac;
use serde_json::{Value, json};

use super::message;
use crate::config::alerting::{Channel, ChannelKind};
use crate::state::rules::Severity;
use crate::store::alerts::Notice;

/// The version of the webhook's body (`schemas/alert-notification.json`).
pub const WEBHOOK_SCHEMA_VERSION: &str = "1.0.0";

/// One HTTP request to a provider.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

fn join(base: &url::Url, path: &str) -> String {
    format!("{}{path}", base.as_str().trim_end_matches('/'))
}

fn json_request(url: String, body: &Value) -> Request {
    Request {
        url,
        headers: vec![("content-type".into(), "application/json".into())],
        body: serde_json::to_vec(body).unwrap_or_default(),
    }
}

fn clip(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((at, _)) => s[..at].to_owned(),
        None => s.to_owned(),
    }
}

/// A header value as providers take it: visible ASCII (anything else becomes `?`).
fn header_text(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c == ' ' || c.is_ascii_graphic() {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// The webhook's `Idempotency-Key`: the incident key and which notification of it.
pub fn idempotency_key(n: &Notice) -> String {
    match n.kind.as_str() {
        "reminder" => format!("{}:reminder {}", n.key, n.reminder),
        kind => format!("{}:{kind}", n.key),
    }
}

/// The webhook's body (`schemas/alert-notification.json`): the notice, with the schema
/// version, the channel, a title and the message text.
pub fn webhook_body(c: &Channel, n: &Notice, text: &str) -> Value {
    let mut doc = serde_json::to_value(n).unwrap_or_else(|_| json!({}));
    if let Value::Object(m) = &mut doc {
        m.insert("schema_version".into(), WEBHOOK_SCHEMA_VERSION.into());
        m.insert("channel".into(), c.name.clone().into());
        m.insert("title".into(), message::title(n).into());
        m.insert("text".into(), text.into());
    }
    doc
}

/// Whether a channel of this kind is told of acknowledgements (the incident trackers, and our
/// webhook).
pub fn takes_acks(kind: ChannelKind) -> bool {
    matches!(
        kind,
        ChannelKind::PagerDuty | ChannelKind::Opsgenie | ChannelKind::Webhook
    )
}

/// The priority a trigger or reminder sends: the channel's, else the one for a critical
/// notice (down) or the lower one for a warning (degraded, an expiring certificate) or info.
fn priority<'a>(c: &'a Channel, n: &Notice, critical: &'a str, lower: &'a str) -> &'a str {
    match (&c.priority, n.severity) {
        (Some(p), _) => p,
        (None, Severity::Critical) => critical,
        (None, _) => lower,
    }
}

/// ntfy's named priorities as its numbers.
fn ntfy_priority(p: &str) -> &str {
    match p.to_ascii_lowercase().as_str() {
        "min" => "1",
        "low" => "2",
        "default" => "3",
        "high" => "4",
        "max" | "urgent" => "5",
        _ => p,
    }
}

/// The request notifying `c` of `n` (none for email, which is not HTTP: see
/// [`super::email`]).
pub fn build(c: &Channel, n: &Notice) -> Option<Request> {
    let text = message::text(c, n);
    let title = message::title(n);
    let resolve = n.kind == "resolve";
    let down_color = if resolve { 0x2e_b6_7d } else { 0xe0_1e_5a };
    Some(match c.kind {
        ChannelKind::Email => return None,
        ChannelKind::Webhook => {
            let body = serde_json::to_vec(&webhook_body(c, n, &text)).unwrap_or_default();
            let mut headers = vec![
                ("content-type".to_owned(), "application/json".to_owned()),
                ("idempotency-key".to_owned(), idempotency_key(n)),
            ];
            if let Some(secret) = &c.key {
                let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
                let tag = hmac::sign(&key, &body);
                let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
                headers.push(("x-uptimer-signature".into(), format!("sha256={hex}")));
            }
            headers.extend(c.headers.iter().cloned());
            Request {
                url: c.url.to_string(),
                headers,
                body,
            }
        }
        ChannelKind::Slack => json_request(c.url.to_string(), &json!({ "text": text })),
        ChannelKind::Discord => json_request(
            c.url.to_string(),
            &json!({
                "content": text,
                "embeds": [{"title": clip(&title, 256), "description": clip(&text, 4096), "color": down_color}],
            }),
        ),
        ChannelKind::Teams => json_request(
            c.url.to_string(),
            &json!({
                "type": "message",
                "attachments": [{
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "content": {
                        "type": "AdaptiveCard",
                        "version": "1.4",
                        "body": [
                            {"type": "TextBlock", "text": title, "weight": "Bolder", "wrap": true},
                            {"type": "TextBlock", "text": text, "wrap": true},
                        ],
                    },
                }],
            }),
        ),
        ChannelKind::Mattermost => {
            let mut body = json!({ "text": text });
            if let Some(u) = &c.username {
                body["username"] = u.clone().into();
            }
            if let Some(ch) = &c.channel {
                body["channel"] = ch.clone().into();
            }
            json_request(c.url.to_string(), &body)
        }
        ChannelKind::GoogleChat => json_request(c.url.to_string(), &json!({ "text": text })),
        ChannelKind::PagerDuty => {
            let routing_key = c.key.clone().unwrap_or_default();
            let body = if resolve || n.kind == "acknowledge" {
                let action = if resolve { "resolve" } else { "acknowledge" };
                json!({"routing_key": routing_key, "event_action": action, "dedup_key": n.key})
            } else {
                let severity = n.severity.as_str();
                json!({
                    "routing_key": routing_key,
                    "event_action": "trigger",
                    "dedup_key": n.key,
                    "payload": {
                        "summary": clip(&text, 1024),
                        "source": if n.target.url.is_empty() { &n.target.name } else { &n.target.url },
                        "severity": severity,
                        "timestamp": n.time.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
                        "custom_details": {
                            "target": n.target.name, "target_id": n.target.id,
                            "error": n.error, "incident": n.incident, "description": n.description,
                        },
                    },
                })
            };
            json_request(join(&c.url, "/v2/enqueue"), &body)
        }
        ChannelKind::Opsgenie => {
            let mut r = if resolve || n.kind == "acknowledge" {
                let action = if resolve { "close" } else { "acknowledge" };
                json_request(
                    join(
                        &c.url,
                        &format!(
                            "/v2/alerts/{}/{action}?identifierType=alias",
                            urlencoding_path(&n.key)
                        ),
                    ),
                    &json!({ "note": text }),
                )
            } else {
                json_request(
                    join(&c.url, "/v2/alerts"),
                    &json!({
                        "message": clip(&title, 130),
                        "alias": n.key,
                        "description": text,
                        "priority": priority(c, n, "P2", "P3"),
                        "tags": n.target.tags,
                        "details": {"target": n.target.name, "target_id": n.target.id, "url": n.target.url},
                    }),
                )
            };
            let key = c.key.clone().unwrap_or_default();
            r.headers
                .push(("authorization".into(), format!("GenieKey {key}")));
            r
        }
        ChannelKind::Ntfy => {
            let topic = c.topic.as_deref().unwrap_or_default();
            let mut headers = vec![
                ("title".to_owned(), header_text(&title)),
                (
                    "priority".to_owned(),
                    if resolve {
                        "3".to_owned()
                    } else {
                        ntfy_priority(priority(c, n, "4", "3")).to_owned()
                    },
                ),
                (
                    "tags".to_owned(),
                    if resolve {
                        "white_check_mark"
                    } else {
                        "rotating_light"
                    }
                    .to_owned(),
                ),
            ];
            if let Some(t) = &c.key {
                headers.push(("authorization".into(), format!("Bearer {t}")));
            }
            Request {
                url: join(&c.url, &format!("/{}", urlencoding_path(topic))),
                headers,
                body: text.into_bytes(),
            }
        }
        ChannelKind::Telegram => {
            let chat_id: Value = match c.chat_id.as_deref().unwrap_or_default() {
                id if id.parse::<i64>().is_ok() => id.parse::<i64>().unwrap_or_default().into(),
                id => id.into(),
            };
            let token = c.key.as_deref().unwrap_or_default();
            json_request(
                join(&c.url, &format!("/bot{token}/sendMessage")),
                &json!({"chat_id": chat_id, "text": clip(&text, 4096), "parse_mode": "HTML"}),
            )
        }
        ChannelKind::Gotify => {
            let p: i64 = if resolve {
                2
            } else {
                priority(c, n, "8", "5").parse().unwrap_or(8)
            };
            let mut r = json_request(
                join(&c.url, "/message"),
                &json!({"title": title, "message": text, "priority": p}),
            );
            r.headers
                .push(("x-gotify-key".into(), c.key.clone().unwrap_or_default()));
            r
        }
        ChannelKind::Pushover => {
            let p: i64 = if resolve {
                0
            } else {
                priority(c, n, "1", "0").parse().unwrap_or(1)
            };
            let mut body = json!({
                "token": c.key.clone().unwrap_or_default(),
                "user": c.user_key.clone().unwrap_or_default(),
                "message": clip(&text, 1024),
                "title": clip(&title, 250),
                "priority": p,
            });
            if !n.target.url.is_empty() && n.target.url.len() <= 512 {
                body["url"] = n.target.url.clone().into();
            }
            json_request(join(&c.url, "/1/messages.json"), &body)
        }
    })
}

/// A path segment with everything but unreserved characters percent-encoded.
fn urlencoding_path(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(yaml: &str) -> Channel {
        crate::config::alerting::channel_of("ops", &serde_yaml_ng::from_str(yaml).unwrap()).unwrap()
    }

    #[test]
    fn webhook_bodies_follow_their_schema_and_are_signed() {
        let schema: Value =
            serde_json::from_str(include_str!("../../schemas/alert-notification.json")).unwrap();
        assert_eq!(schema["version"], WEBHOOK_SCHEMA_VERSION);
        let validator = jsonschema::draft7::options()
            .should_validate_formats(true)
            .build(&schema)
            .unwrap();
        let c = channel("{type: webhook, url: 'http://127.0.0.1:9/h', secret: k}");
        for kind in ["trigger", "reminder", "resolve"] {
            let n = super::super::message::tests::notice(kind);
            let r = build(&c, &n).unwrap();
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            let errors: Vec<String> = validator
                .iter_errors(&body)
                .map(|e| e.to_string())
                .collect();
            assert!(errors.is_empty(), "{kind}: {errors:?}\n{body:#}");
            let key = hmac::Key::new(hmac::HMAC_SHA256, b"k");
            let sig = r
                .headers
                .iter()
                .find(|(k, _)| k == "x-uptimer-signature")
                .unwrap();
            let hex = sig.1.strip_prefix("sha256=").unwrap();
            let bytes: Vec<u8> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            assert!(hmac::verify(&key, &r.body, &bytes).is_ok());
        }
        let broken = json!({"schema_version": "1.0.0", "kind": "exploded"});
        assert!(!validator.is_valid(&broken));
    }

    #[test]
    fn base_urls_take_the_path_as_text_and_ignore_a_trailing_slash() {
        let n = super::super::message::tests::notice("trigger");
        let c = channel("{type: pagerduty, routing_key: k, base_url: 'http://h/pd/'}");
        assert_eq!(build(&c, &n).unwrap().url, "http://h/pd/v2/enqueue");
        let c = channel("{type: ntfy, topic: 'a b', base_url: 'http://h'}");
        assert_eq!(build(&c, &n).unwrap().url, "http://h/a%20b");
        assert_eq!(
            idempotency_key(&super::super::message::tests::notice("reminder")),
            "uptimer-7-abc:reminder 2"
        );
    }
}
