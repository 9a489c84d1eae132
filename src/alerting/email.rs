//! Email notifications over SMTP (`lettre`): one message per notice, `text/plain` beside
//! `text/html`, with a `Message-ID` made from the incident key (`<KEY.trigger@HOST>`, where HOST
//! is the sender's domain) so that reminders and the resolve, which carry `In-Reply-To` and
//! `References` with the trigger's, thread under it in mail clients. A 250 after DATA is
//! delivered; 4xx replies, timeouts and connection or TLS failures are tried again; 5xx
//! replies (a refused login, an unknown recipient) are refused for good.

use lettre::message::{Message, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::{message, send};
use crate::config::alerting::{Channel, Email, SmtpTls};
use crate::store::alerts::{Delivery, Notice};
use crate::store::now_micros;

/// The `Message-ID` of a notice's email: one per message, all made from the incident key.
pub fn message_id(n: &Notice, host: &str) -> String {
    let which = match n.kind.as_str() {
        "reminder" => format!("reminder-{}", n.reminder),
        kind => kind.to_owned(),
    };
    format!("<{}.{which}@{host}>", n.key)
}

/// The domain Message-IDs are made under: the sender's.
fn id_host(e: &Email) -> &str {
    e.from.email.domain()
}

/// The email a notice sends.
pub fn build(c: &Channel, e: &Email, n: &Notice) -> Result<Message, String> {
    let host = id_host(e);
    let mut b = Message::builder()
        .from(e.from.clone())
        .subject(message::title(n))
        .message_id(Some(message_id(n, host)))
        .date_now()
        .user_agent(concat!("uptimer/", env!("CARGO_PKG_VERSION")).to_owned());
    for to in &e.to {
        b = b.to(to.clone());
    }
    if matches!(n.kind.as_str(), "reminder" | "resolve" | "acknowledge") {
        let mut trigger = n.clone();
        trigger.kind = "trigger".into();
        let parent = message_id(&trigger, host);
        b = b.in_reply_to(parent.clone()).references(parent);
    }
    b.multipart(MultiPart::alternative_plain_html(
        message::text(c, n),
        message::html(c, n),
    ))
    .map_err(|err| format!("the email could not be built: {err}"))
}

/// The transport to the channel's server: one connection per message, with the channel's
/// TLS mode and login.
fn transport(c: &Channel, e: &Email) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let params =
        || TlsParameters::new(e.host.clone()).map_err(|err| format!("TLS to {}: {err}", e.host));
    let tls = match e.tls {
        SmtpTls::None => Tls::None,
        SmtpTls::StartTls => Tls::Required(params()?),
        SmtpTls::Tls => Tls::Wrapper(params()?),
    };
    let mut t = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&e.host)
        .port(e.port)
        .tls(tls)
        .timeout(Some(send::TIMEOUT));
    if let (Some(user), Some(password)) = (&c.username, &c.key) {
        t = t.credentials(Credentials::new(user.clone(), password.clone()));
    }
    Ok(t.build())
}

/// Sends a notice's email through channel `c`; `attempts` is how many were made before.
pub async fn send(c: &Channel, e: &Email, n: &Notice, attempts: u32) -> Delivery {
    let mail = match build(c, e, n) {
        Ok(m) => m,
        Err(error) => return Delivery::Failed { error },
    };
    let transport = match transport(c, e) {
        Ok(t) => t,
        Err(error) => return Delivery::Failed { error },
    };
    match transport.send(mail).await {
        Ok(r) => {
            let text: Vec<&str> = r.message().collect();
            Delivery::Sent {
                answer: c.mask(&format!("{} {}", r.code(), text.join(" "))),
            }
        }
        Err(err) => {
            let error = c.mask(&crate::readers::probes::net::describe(&err));
            // A 5xx reply is final; so is what the client itself refused (a server without
            // the STARTTLS it was told to require, a login it cannot offer). The rest (4xx,
            // timeouts, connection and TLS failures) may pass.
            if err.is_permanent() || err.is_client() {
                Delivery::Failed { error }
            } else {
                Delivery::Retry {
                    retry_at: now_micros() + send::backoff(attempts),
                    error,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(yaml: &str) -> Channel {
        crate::config::alerting::channel_of("mail", &serde_yaml_ng::from_str(yaml).unwrap())
            .unwrap()
    }

    #[test]
    fn messages_thread_under_their_trigger_and_carry_both_parts() {
        let c = channel(
            "{type: email, host: 127.0.0.1, tls: none, from: 'Uptimer <up@example.com>', to: 'a@example.com, b@example.com'}",
        );
        let e = c.email.as_deref().unwrap();
        let trigger = super::super::message::tests::notice("trigger");
        let raw = String::from_utf8(build(&c, e, &trigger).unwrap().formatted()).unwrap();
        assert!(
            raw.contains("Message-ID: <uptimer-7-abc.trigger@example.com>"),
            "{raw}"
        );
        assert!(!raw.contains("In-Reply-To"), "{raw}");
        assert!(raw.contains("To: a@example.com, b@example.com"), "{raw}");
        assert!(raw.contains("Content-Type: text/plain"), "{raw}");
        assert!(raw.contains("Content-Type: text/html"), "{raw}");
        for (kind, id) in [
            ("reminder", "<uptimer-7-abc.reminder-2@example.com>"),
            ("resolve", "<uptimer-7-abc.resolve@example.com>"),
        ] {
            let n = super::super::message::tests::notice(kind);
            let raw = String::from_utf8(build(&c, e, &n).unwrap().formatted()).unwrap();
            assert!(raw.contains(&format!("Message-ID: {id}")), "{raw}");
            assert!(
                raw.contains("In-Reply-To: <uptimer-7-abc.trigger@example.com>"),
                "{raw}"
            );
            assert!(
                raw.contains("References: <uptimer-7-abc.trigger@example.com>"),
                "{raw}"
            );
        }
    }
}
