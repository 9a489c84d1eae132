//! The kind-specific details of a target's newest check, as its page shows them: a DNS check's
//! rcode and records, a ping's loss and round trips, a TLS session's certificate chain and the
//! days left, a TCP dialog's matched lines, a gRPC serving status, a push's message.

use time::OffsetDateTime;

use crate::store::EventRow;

/// One panel: facts as label and value, then lines shown as written (records, matched lines).
pub struct DetailsView {
    pub title: &'static str,
    pub facts: Vec<(&'static str, String)>,
    /// A table's header and rows (the certificate chain); empty for none.
    pub table_head: Vec<&'static str>,
    pub table: Vec<Vec<String>>,
    /// Lines in monospace: DNS records, matched dialog lines.
    pub lines: Vec<String>,
}

impl DetailsView {
    fn new(title: &'static str) -> Self {
        DetailsView {
            title,
            facts: Vec::new(),
            table_head: Vec::new(),
            table: Vec::new(),
            lines: Vec::new(),
        }
    }
}

/// At most this many records or lines are listed (the rest are counted).
const MAX_LINES: usize = 50;

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{v:.2} ms"))
}

fn cut(lines: impl Iterator<Item = String>, total: usize) -> Vec<String> {
    let mut out: Vec<String> = lines.take(MAX_LINES).collect();
    if total > MAX_LINES {
        out.push(format!("… and {} more", total - MAX_LINES));
    }
    out
}

/// The panels of one event (several for gRPCS: the health answer and the TLS session).
pub fn details(e: &EventRow, now: OffsetDateTime) -> Vec<DetailsView> {
    let mut out = Vec::new();
    if let Some(d) = &e.dns {
        let mut v = DetailsView::new("DNS answer");
        v.facts.push(("Response code", d.rcode.clone()));
        v.facts.push(("Answers", d.answers.len().to_string()));
        v.facts.push(("Authority", d.authority.len().to_string()));
        v.facts.push(("Additional", d.additional.len().to_string()));
        if let Some(serial) = d.soa_serial {
            v.facts.push(("SOA serial", serial.to_string()));
        }
        let all = d.answers.iter().chain(&d.authority).chain(&d.additional);
        let total = d.answers.len() + d.authority.len() + d.additional.len();
        v.lines = cut(all.map(|r| r.text().replace('\t', "  ")), total);
        out.push(v);
    }
    if let Some(i) = &e.icmp {
        let mut v = DetailsView::new("Ping");
        v.facts
            .push(("Replies", format!("{} of {}", i.received, i.sent)));
        v.facts.push(("Loss", format!("{:.1} %", i.loss_percent)));
        v.facts.push(("Round trip min", ms(i.rtt_min_ms)));
        v.facts.push(("Round trip avg", ms(i.rtt_avg_ms)));
        v.facts.push(("Round trip max", ms(i.rtt_max_ms)));
        if let Some(ttl) = i.reply_ttl {
            v.facts.push(("Reply TTL", ttl.to_string()));
        }
        out.push(v);
    }
    if let Some(g) = &e.grpc {
        let mut v = DetailsView::new("gRPC health");
        v.facts.push(("Serving status", g.status.clone()));
        out.push(v);
    }
    if let Some(t) = &e.tcp
        && !t.matched.is_empty()
    {
        let mut v = DetailsView::new("Dialog");
        v.lines = cut(t.matched.iter().cloned(), t.matched.len());
        out.push(v);
    }
    if let Some(p) = &e.push {
        let mut v = DetailsView::new("Last push");
        v.facts
            .push(("Message", p.msg.clone().unwrap_or_else(|| "(none)".into())));
        out.push(v);
    }
    if let Some(t) = &e.tls {
        let mut v = DetailsView::new("TLS");
        v.facts.push(("Version", t.version.clone()));
        v.facts.push(("Cipher", t.cipher.clone()));
        if let Some(at) = t.earliest_expiry {
            let days = (at - now).whole_days();
            v.facts.push((
                "Earliest expiry",
                format!("{} ({days} days left)", at.date()),
            ));
        }
        v.table_head = vec!["Subject", "Issuer", "Expires", "SHA-256"];
        v.table = t
            .chain
            .iter()
            .take(MAX_LINES)
            .map(|c| {
                vec![
                    c.subject.clone(),
                    c.issuer.clone(),
                    c.not_after.date().to_string(),
                    c.sha256.chars().take(16).collect::<String>() + "…",
                ]
            })
            .collect();
        out.push(v);
    }
    out
}
