//! `dns:` checks: one raw DNS query (not a resolver lookup, so the rcode and every section are
//! visible) sent to one server over UDP or TCP, and the response judged as
//! blackbox_exporter's dns prober judges it: `valid_rcodes`, then the answer, authority and
//! additional records against their regexes, matched on the records' text as Go's miekg/dns
//! prints it (see `present`).

mod exchange;
mod judge;
mod present;
#[cfg(test)]
mod tests;

pub use crate::event::dns_names::{parse_query_class, parse_query_type, parse_rcode};

use std::net::SocketAddr;

use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};

use super::Failure;
use crate::event::{DnsDetails, ErrorKind, Phases};

/// The records of a section kept in the event's details (all are judged): a hostile reply
/// can hold thousands, each printed at up to a KiB.
const MAX_RECORDS_KEPT: usize = 256;

pub use crate::config::checks::{DnsCheck, DnsTransport, RrRules};

impl Default for DnsCheck {
    /// blackbox_exporter's defaults, with no name.
    fn default() -> Self {
        DnsCheck {
            query_name: String::new(),
            query_type: RecordType::ANY,
            query_class: DNSClass::IN,
            transport: DnsTransport::Udp,
            recursion_desired: true,
            valid_rcodes: vec![ResponseCode::NoError],
            validate_answer_rrs: RrRules::default(),
            validate_authority_rrs: RrRules::default(),
            validate_additional_rrs: RrRules::default(),
            addr: Default::default(),
        }
    }
}

/// What one DNS probe observed so far: kept by the caller when its timeout drops the probe's
/// future, so that the event says which phase was in progress.
#[derive(Debug, Default)]
pub struct DnsObservation {
    /// The phase in progress (`connect`, `ttfb`), named when the probe times out.
    pub phase: &'static str,
    /// `connect`: the TCP connect (TCP only); `ttfb`: from sending the query until the whole
    /// reply was received.
    pub phases: Phases,
    /// What the server answered, once a reply was received.
    pub details: Option<DnsDetails>,
}

/// A `query_name` as it is sent: fully qualified (`example.org` asks `example.org.`),
/// `\.` and `\DDD` escapes read as in a zone file. For checking a configuration.
pub fn parse_query_name(s: &str) -> Result<Name, String> {
    let mut name = Name::from_ascii(s).map_err(|e| format!("not a domain name: {e}"))?;
    name.set_fqdn(true);
    Ok(name)
}

/// Sends the check's query to `server` once and judges the reply; `rec` holds what was
/// observed, also when this fails or the caller's timeout drops it (this sets no timeout).
pub async fn probe(
    server: SocketAddr,
    check: &DnsCheck,
    rec: &mut DnsObservation,
) -> Result<(), Failure> {
    let name = parse_query_name(&check.query_name).map_err(|e| {
        Failure::new(
            ErrorKind::Internal,
            format!("query_name {:?}: {e}", check.query_name),
        )
    })?;
    let mut query = Message::query();
    query.metadata.recursion_desired = check.recursion_desired;
    let mut question = Query::query(name, check.query_type);
    question.set_query_class(check.query_class);
    query.add_query(question);

    let reply = exchange::exchange(server, check.transport, &query, rec).await?;
    let mut details = details(&reply);
    let verdict = judge(&reply, &details, check);
    // All records are judged; the event keeps the first MAX_RECORDS_KEPT of each section.
    for section in [
        &mut details.answers,
        &mut details.authority,
        &mut details.additional,
    ] {
        section.truncate(MAX_RECORDS_KEPT);
    }
    rec.details = Some(details);
    verdict
}

/// The rcode, then each section against its rules, as blackbox_exporter orders them.
fn judge(reply: &Message, details: &DnsDetails, check: &DnsCheck) -> Result<(), Failure> {
    judge::rcode(reply.metadata.response_code, &check.valid_rcodes)?;
    judge::section("answer", &details.answers, &check.validate_answer_rrs)?;
    judge::section(
        "authority",
        &details.authority,
        &check.validate_authority_rrs,
    )?;
    judge::section(
        "additional",
        &details.additional,
        &check.validate_additional_rrs,
    )
}

/// The event's account of the reply: rcode, the sections, and the SOA serial.
fn details(reply: &Message) -> DnsDetails {
    let soa_serial = reply
        .answers
        .iter()
        .chain(&reply.authorities)
        .find_map(|r| match &r.data {
            RData::SOA(soa) => Some(soa.serial),
            _ => None,
        });
    DnsDetails {
        rcode: crate::event::dns_names::rcode_name(reply.metadata.response_code),
        answers: reply.answers.iter().map(present::record).collect(),
        authority: reply.authorities.iter().map(present::record).collect(),
        additional: reply.additionals.iter().map(present::record).collect(),
        soa_serial,
    }
}
