//! A block of raw probe events of one target: the event count, the block's string table, every
//! uuid (16 bytes, random, so kept as they are), then one numeric column per field (see
//! `columns`): times (steps around the interval: the jitter is what is left), flags (two
//! tri-states and presence bits), phase flags, descriptor and string references, status codes,
//! response times, then each optional field only for the events that have it (phases in whole
//! microseconds, one column per phase), then each event's extras: the JSON object of its
//! schema 0.4.0 and 0.5.0 fields (`conditions`, `degraded`, and the kind objects `dns`, `icmp`,
//! `tls`, `tcp`, `grpc`, `push`), rare enough per target or varied enough in shape not to
//! deserve columns (an event without them costs one flag bit; a block's frame is compressed, so
//! one target's repeated objects cost little), or extras given as they are. Events come back sorted by (event_time, uuid); duplicates are
//! kept as given.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use uuid::Uuid;

use super::PackError;
use super::columns;
use super::descriptor::{Descriptor, DescriptorRef};
use super::frame::{self, Compression, Kind};
use super::strings::{self, Intern, LocalTable, Resolve, Resolved};
use super::varint::{self, Reader};
use crate::event::{
    ConditionResult, DnsDetails, Envelope, ErrorKind, GrpcDetails, IcmpDetails, Phases, ProbeEvent,
    PushDetails, TcpDetails, TlsDetails,
};
use crate::store::{MAX_TIME, MIN_TIME, Micros, from_micros, to_micros};

/// An event with its extras: the JSON of fields a later version adds, kept as given. Extras
/// that read as the event's own 0.4.0 and 0.5.0 fields come back as those fields, not as
/// extras.
#[derive(Debug, Clone, PartialEq)]
pub struct Packed {
    pub event: ProbeEvent,
    pub extras: Option<Vec<u8>>,
}

/// What [`encode_events`] takes: events (their 0.4.0 and 0.5.0 fields as extras) or
/// [`Packed`] ones.
pub trait AsPacked {
    fn event(&self) -> &ProbeEvent;
    fn extras(&self) -> Option<Cow<'_, [u8]>>;
}

impl AsPacked for ProbeEvent {
    fn event(&self) -> &ProbeEvent {
        self
    }
    fn extras(&self) -> Option<Cow<'_, [u8]>> {
        Extras::of(self).map(Cow::Owned)
    }
}

impl AsPacked for Packed {
    /// Extras given win over the event's own 0.4.0 and 0.5.0 fields (only tests give both).
    fn event(&self) -> &ProbeEvent {
        &self.event
    }
    fn extras(&self) -> Option<Cow<'_, [u8]>> {
        match &self.extras {
            Some(x) => Some(Cow::Borrowed(x)),
            None => Extras::of(&self.event).map(Cow::Owned),
        }
    }
}

/// The fields of schemas 0.4.0 and 0.5.0, kept in a block as one JSON object per event that
/// has any. A block written before 0.5.0 has only the first two: it reads as it did.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Extras<'a> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    conditions: Option<Cow<'a, [ConditionResult]>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    degraded: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dns: Option<Cow<'a, DnsDetails>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    icmp: Option<Cow<'a, IcmpDetails>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tls: Option<Cow<'a, TlsDetails>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tcp: Option<Cow<'a, TcpDetails>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    grpc: Option<Cow<'a, GrpcDetails>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    push: Option<Cow<'a, PushDetails>>,
}

impl Extras<'_> {
    /// The event's 0.4.0 and 0.5.0 fields as JSON; `None` when it has none.
    fn of(e: &ProbeEvent) -> Option<Vec<u8>> {
        let x = Extras {
            conditions: e.conditions.as_deref().map(Cow::Borrowed),
            degraded: e.degraded,
            dns: e.dns.as_ref().map(Cow::Borrowed),
            icmp: e.icmp.as_ref().map(Cow::Borrowed),
            tls: e.tls.as_ref().map(Cow::Borrowed),
            tcp: e.tcp.as_ref().map(Cow::Borrowed),
            grpc: e.grpc.as_ref().map(Cow::Borrowed),
            push: e.push.as_ref().map(Cow::Borrowed),
        };
        if x.is_empty() {
            return None;
        }
        // Strings, numbers and booleans only: serializing cannot fail. (An ICMP loss that is
        // not finite, which no prober reports, is written as null and then reads as unknown
        // extras: kept as given, as the event's JSON would be refused.)
        serde_json::to_vec(&x).ok()
    }

    fn is_empty(&self) -> bool {
        self.conditions.is_none()
            && self.degraded.is_none()
            && self.dns.is_none()
            && self.icmp.is_none()
            && self.tls.is_none()
            && self.tcp.is_none()
            && self.grpc.is_none()
            && self.push.is_none()
    }

    /// Extras that are the 0.4.0 and 0.5.0 fields (`None` for anything else, kept as given).
    fn read(bytes: &[u8]) -> Option<Extras<'static>> {
        serde_json::from_slice::<Extras>(bytes)
            .ok()
            .filter(|x| !x.is_empty())
    }

    /// Sets the event's fields from these.
    fn apply(self, e: &mut ProbeEvent) {
        e.conditions = self.conditions.map(Cow::into_owned);
        e.degraded = self.degraded;
        e.dns = self.dns.map(Cow::into_owned);
        e.icmp = self.icmp.map(Cow::into_owned);
        e.tls = self.tls.map(Cow::into_owned);
        e.tcp = self.tcp.map(Cow::into_owned);
        e.grpc = self.grpc.map(Cow::into_owned);
        e.push = self.push.map(Cow::into_owned);
    }
}

/// The most events a block holds: an hour at one probe a second is 3,600, and the limit also
/// bounds what a forged count can make the reader allocate.
pub const MAX_EVENTS: usize = 65_536;

// Flags, first byte: two tri-states (0 absent, 1 false, 2 true) and four presence bits.
const UP_SHIFT: u8 = 0;
const MATCHES_SHIFT: u8 = 2;
const HAS_BODY_BYTES: u8 = 1 << 4;
const HAS_REDIRECTS: u8 = 1 << 5;
const HAS_TLS: u8 = 1 << 6;
const HAS_EXTRAS: u8 = 1 << 7;
// Second byte: phases present, then one bit per phase; bits 6 and 7 are reserved.
const HAS_PHASES: u8 = 1;
const PHASE_BITS: u8 = 0b0011_1110;

/// The status column's value for an event without one (checks other than HTTP): no HTTP
/// status is this large.
const NO_STATUS: u16 = u16::MAX;

/// An event's status from its column.
fn status_of(v: u16) -> Option<u16> {
    (v != NO_STATUS).then_some(v)
}

fn tri(v: Option<bool>) -> u8 {
    match v {
        None => 0,
        Some(false) => 1,
        Some(true) => 2,
    }
}

fn untri(bits: u8) -> Result<Option<bool>, PackError> {
    match bits & 3 {
        0 => Ok(None),
        1 => Ok(Some(false)),
        2 => Ok(Some(true)),
        _ => Err(PackError::Corrupt("flags")),
    }
}

fn phase_list(p: &Phases) -> [Option<f64>; 5] {
    [p.dns, p.connect, p.tls, p.ttfb, p.transfer]
}

/// A phase in whole microseconds (what the prober writes: `Phases::rounded`).
fn phase_micros(ms: f64) -> Result<i64, PackError> {
    let us = (ms * 1000.0).round();
    if (0.0..=9_007_199_254_740_992.0).contains(&us) {
        Ok(us as i64)
    } else {
        Err(PackError::Unrepresentable("phases_ms"))
    }
}

/// Each phase in whole microseconds.
fn phase_micros_of(e: &ProbeEvent) -> Result<[Option<i64>; 5], PackError> {
    let mut out = [None; 5];
    if let Some(p) = &e.phases_ms {
        for (o, v) in out.iter_mut().zip(phase_list(p)) {
            *o = v.map(phase_micros).transpose()?;
        }
    }
    Ok(out)
}

/// The phases' sum in whole milliseconds: what predicts the response time.
fn phase_sum_ms(micros: &[Option<i64>; 5]) -> i64 {
    micros
        .iter()
        .flatten()
        .fold(500i64, |s, v| s.wrapping_add(*v))
        .wrapping_div(1000)
}

fn time_micros(t: time::OffsetDateTime, field: &'static str) -> Result<Micros, PackError> {
    let m = to_micros(t);
    if (MIN_TIME..=MAX_TIME).contains(&m) {
        Ok(m)
    } else {
        Err(PackError::Unrepresentable(field))
    }
}

/// Encodes a block of events (any order; one target's, typically one hour's).
pub fn encode_events<E: AsPacked>(
    events: &[E],
    strings: &mut impl Intern,
    compression: Compression,
) -> Result<Vec<u8>, PackError> {
    let mut rows = Vec::with_capacity(events.len());
    for e in events {
        rows.push((time_micros(e.event().envelope.event_time, "event_time")?, e));
    }
    rows.sort_by_key(|a| (a.0, a.1.event().envelope.uuid));
    let body = body(&rows, strings)?;
    frame::seal(Kind::Events, body, compression)
}

fn body<E: AsPacked>(
    rows: &[(Micros, &E)],
    strings: &mut impl Intern,
) -> Result<Vec<u8>, PackError> {
    if rows.len() > MAX_EVENTS {
        return Err(PackError::Unrepresentable(
            "a block of more than 65,536 events",
        ));
    }
    // Descriptors first: equal ones found by their fields, each made a string once.
    let mut desc_index: HashMap<DescriptorRef, usize> = HashMap::new();
    let mut desc_json = Vec::new();
    let mut desc_of = Vec::with_capacity(rows.len());
    for (_, e) in rows {
        let d = DescriptorRef::of(e.event());
        let i = *desc_index.entry(d).or_insert_with_key(|d| {
            desc_json.push(d.to_json());
            desc_json.len() - 1
        });
        desc_of.push(i);
    }
    let mut table = LocalTable::default();
    let descs: Vec<i64> = desc_of
        .iter()
        .map(|&i| table.slot(&desc_json[i]) as i64)
        .collect();
    let mut refs: [Vec<i64>; 4] = Default::default();
    for (_, e) in rows {
        let e = e.event();
        refs[0].push(table.opt(e.error.as_deref()) as i64);
        refs[1].push(table.opt(e.error_kind.map(ErrorKind::as_str)) as i64);
        refs[2].push(table.opt(e.ip.as_deref()) as i64);
        refs[3].push(table.opt(e.http_version.as_deref()) as i64);
    }

    let micros = rows
        .iter()
        .map(|(_, e)| phase_micros_of(e.event()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = Vec::with_capacity(64 + rows.len() * 32);
    varint::put(&mut out, rows.len() as u64);
    table.write(&mut out, strings)?;
    for (_, e) in rows {
        out.extend_from_slice(e.event().envelope.uuid.as_bytes());
    }
    let column = |out: &mut Vec<u8>, f: &dyn Fn(&ProbeEvent) -> i64| {
        let values: Vec<i64> = rows.iter().map(|(_, e)| f(e.event())).collect();
        columns::put(out, &values);
    };
    columns::put(&mut out, &rows.iter().map(|r| r.0).collect::<Vec<_>>());
    let extras: Vec<Option<Cow<'_, [u8]>>> = rows.iter().map(|(_, e)| e.extras()).collect();
    let flags: Vec<i64> = rows
        .iter()
        .zip(&extras)
        .map(|((_, e), x)| i64::from(flags(e.event(), x.is_some())))
        .collect();
    columns::put(&mut out, &flags);
    column(&mut out, &|e| {
        i64::from(e.phases_ms.as_ref().map_or(0, |p| {
            phase_list(p)
                .iter()
                .enumerate()
                .fold(HAS_PHASES, |b, (i, v)| b | u8::from(v.is_some()) << (i + 1))
        }))
    });
    columns::put(&mut out, &descs);
    column(&mut out, &|e| i64::from(e.status_code.unwrap_or(NO_STATUS)));
    // The response time less the phases' sum: what is left is the time between phases.
    let response: Vec<i64> = rows
        .iter()
        .zip(&micros)
        .map(|((_, e), p)| (e.event().response_time_ms as i64).wrapping_sub(phase_sum_ms(p)))
        .collect();
    columns::put(&mut out, &response);
    for r in &refs {
        columns::put(&mut out, r);
    }
    for phase in 0..5 {
        let values: Vec<i64> = micros.iter().filter_map(|p| p[phase]).collect();
        columns::put(&mut out, &values);
    }
    let present = |f: &dyn Fn(&ProbeEvent) -> Option<i64>| -> Vec<i64> {
        rows.iter().filter_map(|(_, e)| f(e.event())).collect()
    };
    columns::put(&mut out, &present(&|e| e.body_bytes.map(|b| b as i64)));
    columns::put(&mut out, &present(&|e| e.redirects.map(i64::from)));
    let mut tls = Vec::new();
    for (_, e) in rows {
        if let Some(t) = e.event().tls_cert_not_after {
            tls.push(time_micros(t, "tls_cert_not_after")?);
        }
    }
    columns::put(&mut out, &tls);
    let extras: Vec<&[u8]> = extras.iter().filter_map(|x| x.as_deref()).collect();
    columns::put(
        &mut out,
        &extras.iter().map(|x| x.len() as i64).collect::<Vec<_>>(),
    );
    for x in extras {
        out.extend_from_slice(x);
    }
    Ok(out)
}

fn flags(e: &ProbeEvent, extras: bool) -> u8 {
    let bit = |b: bool, f: u8| if b { f } else { 0 };
    tri(e.up) << UP_SHIFT
        | tri(e.matches_regex) << MATCHES_SHIFT
        | bit(e.body_bytes.is_some(), HAS_BODY_BYTES)
        | bit(e.redirects.is_some(), HAS_REDIRECTS)
        | bit(e.tls_cert_not_after.is_some(), HAS_TLS)
        | bit(extras, HAS_EXTRAS)
}

/// Decodes a block's events, sorted by (event_time, uuid); extras other than the events' own
/// fields are dropped.
pub fn decode_events(bytes: &[u8], strings: &impl Resolve) -> Result<Vec<ProbeEvent>, PackError> {
    Ok(decode_packed(bytes, strings)?
        .into_iter()
        .map(|p| p.event)
        .collect())
}

/// The global string ids a block refers to: what the store must load into its cache before
/// [`decode_events`] can resolve them.
pub fn string_ids(bytes: &[u8]) -> Result<Vec<u64>, PackError> {
    let body = frame::open(Kind::Events, bytes)?;
    let mut r = Reader::new(&body);
    event_count(&mut r)?;
    strings::read_table(&mut r)
}

fn event_count(r: &mut Reader) -> Result<usize, PackError> {
    let n = r.count(16)?;
    if n > MAX_EVENTS {
        return Err(PackError::Count {
            count: n as u64,
            room: r.remaining(),
        });
    }
    Ok(n)
}

/// A column whose values must fit `T`.
fn column_of<T: TryFrom<i64>>(
    r: &mut Reader,
    n: usize,
    what: &'static str,
) -> Result<Vec<T>, PackError> {
    columns::read(r, n)?
        .into_iter()
        .map(|v| T::try_from(v).map_err(|_| PackError::Corrupt(what)))
        .collect()
}

/// The columns every reader of a block needs, up to the phases; strings still as the block's
/// own references.
struct Front<'a> {
    n: usize,
    table: Vec<u64>,
    uuids: &'a [u8],
    times: Vec<Micros>,
    flags: Vec<u8>,
    phase_flags: Vec<u8>,
    desc_slots: Vec<usize>,
    status: Vec<u16>,
    response: Vec<i64>,
    refs: [Vec<u64>; 4],
    micros: Vec<[Option<i64>; 5]>,
}

fn front<'a>(r: &mut Reader<'a>) -> Result<Front<'a>, PackError> {
    let n = event_count(r)?;
    let table = strings::read_table(r)?;
    let uuids = r.bytes(16 * n)?;
    let times = columns::read(r, n)?;
    if times.iter().any(|t| !(MIN_TIME..=MAX_TIME).contains(t))
        || times.windows(2).any(|w| w[0] > w[1])
    {
        return Err(PackError::Corrupt("event times"));
    }
    let flags: Vec<u8> = column_of(r, n, "flags")?;
    let phase_flags: Vec<u8> = column_of(r, n, "phase flags")?;
    for (&f, &p) in flags.iter().zip(&phase_flags) {
        untri(f >> UP_SHIFT)?;
        untri(f >> MATCHES_SHIFT)?;
        if p & !(HAS_PHASES | PHASE_BITS) != 0 || (p & HAS_PHASES == 0 && p != 0) {
            return Err(PackError::Corrupt("phase flags"));
        }
    }
    let desc_slots: Vec<usize> = column_of(r, n, "descriptor slot")?;
    if desc_slots.iter().any(|&slot| slot >= table.len()) {
        return Err(PackError::Corrupt("descriptor slot out of range"));
    }
    let status: Vec<u16> = column_of(r, n, "status_code")?;
    let response: Vec<i64> = columns::read(r, n)?;
    let mut refs: [Vec<u64>; 4] = Default::default();
    for column in &mut refs {
        *column = column_of(r, n, "string reference")?;
        if column.iter().any(|&i| i > table.len() as u64) {
            return Err(PackError::Corrupt("string slot out of range"));
        }
    }
    let mut micros = vec![[None; 5]; n];
    for phase in 0..5 {
        let has = |p: &u8| p & (2 << phase) != 0;
        let count = phase_flags.iter().filter(|p| has(p)).count();
        let mut values = column_of::<u64>(r, count, "phase")?.into_iter();
        for (m, bits) in micros.iter_mut().zip(&phase_flags) {
            if has(bits) {
                m[phase] = values.next().map(|us| us as i64);
            }
        }
    }
    Ok(Front {
        n,
        table,
        uuids,
        times,
        flags,
        phase_flags,
        desc_slots,
        status,
        response,
        refs,
        micros,
    })
}

/// What a response-time chart needs of an event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub time: Micros,
    pub up: bool,
    pub response_time_ms: u64,
    /// dns, connect, tls, ttfb, transfer in milliseconds
    pub phases_ms: [Option<f64>; 5],
}

/// A block's events as chart points, sorted by time: read without its strings (nothing to
/// resolve), descriptors and optional fields, so a day of them stays cheap.
pub fn decode_points(bytes: &[u8]) -> Result<Vec<Point>, PackError> {
    let body = frame::open(Kind::Events, bytes)?;
    let f = front(&mut Reader::new(&body))?;
    Ok((0..f.n)
        .map(|i| {
            let up = untri(f.flags[i] >> UP_SHIFT).ok().flatten();
            let has_error = f.refs[0][i] != 0;
            let ms = |us: Option<i64>| us.map(|us| us as f64 / 1000.0);
            Point {
                time: f.times[i],
                up: crate::event::counts_as_up(up, has_error, status_of(f.status[i])),
                response_time_ms: f.response[i].wrapping_add(phase_sum_ms(&f.micros[i])) as u64,
                phases_ms: f.micros[i].map(ms),
            }
        })
        .collect())
}

/// Decodes a block's events with their extras, sorted by (event_time, uuid).
pub fn decode_packed(bytes: &[u8], strings: &impl Resolve) -> Result<Vec<Packed>, PackError> {
    let body = frame::open(Kind::Events, bytes)?;
    let mut r = Reader::new(&body);
    let Front {
        n,
        table,
        uuids,
        times,
        flags,
        phase_flags,
        desc_slots,
        status,
        response,
        refs: ref_ids,
        micros,
    } = front(&mut r)?;
    let table = Resolved::new(&table, strings)?;
    let mut descs: Vec<Option<Descriptor>> = vec![None; table.len()];
    for &slot in &desc_slots {
        let d = &mut descs[slot];
        if d.is_none() {
            *d = Some(Descriptor::parse(table.get(slot as u64)?)?);
        }
    }
    let mut refs: [Vec<Option<&str>>; 4] = Default::default();
    for (column, ids) in refs.iter_mut().zip(&ref_ids) {
        for &reference in ids {
            column.push(table.opt(reference)?);
        }
    }
    let kinds = refs[1]
        .iter()
        .map(|k| k.map(error_kind).transpose())
        .collect::<Result<Vec<_>, _>>()?;
    let phases: Vec<Option<Phases>> = phase_flags
        .iter()
        .zip(&micros)
        .map(|(&p, m)| {
            let ms = |i: usize| m[i].map(|us: i64| us as f64 / 1000.0);
            (p & HAS_PHASES != 0).then(|| Phases {
                dns: ms(0),
                connect: ms(1),
                tls: ms(2),
                ttfb: ms(3),
                transfer: ms(4),
            })
        })
        .collect();
    let count = |bit: u8| flags.iter().filter(|&&f| f & bit != 0).count();
    let mut body_bytes = columns::read(&mut r, count(HAS_BODY_BYTES))?.into_iter();
    let mut redirects = column_of::<u32>(&mut r, count(HAS_REDIRECTS), "redirects")?.into_iter();
    let tls = columns::read(&mut r, count(HAS_TLS))?;
    if tls.iter().any(|t| !(MIN_TIME..=MAX_TIME).contains(t)) {
        return Err(PackError::Corrupt("tls_cert_not_after"));
    }
    let mut tls = tls.into_iter();
    let mut extras = Vec::new();
    for len in column_of::<usize>(&mut r, count(HAS_EXTRAS), "extras")? {
        extras.push(r.bytes(len)?.to_vec());
    }
    let mut extras = extras.into_iter();
    r.finish()?;

    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let Some(Descriptor(
            schema_title,
            schema_version,
            protocol,
            hostname,
            port,
            path,
            regex,
            url,
            target,
            name,
            location,
        )) = descs[desc_slots[i]].clone()
        else {
            return Err(PackError::Corrupt("descriptor"));
        };
        let uuid = Uuid::from_slice(&uuids[16 * i..16 * (i + 1)])
            .map_err(|_| PackError::Corrupt("uuid"))?;
        let f = flags[i];
        let take = |bit: u8| f & bit != 0;
        // Every field named: a field added to `ProbeEvent` does not compile here until the
        // format keeps it.
        let event = ProbeEvent {
            envelope: Envelope {
                schema_title,
                schema_version,
                uuid,
                event_time: from_micros(times[i]),
            },
            protocol,
            hostname,
            port: Some(port).filter(|p| *p != 0),
            path,
            status_code: status_of(status[i]),
            response_time_ms: response[i].wrapping_add(phase_sum_ms(&micros[i])) as u64,
            error: refs[0][i].map(str::to_owned),
            regex,
            matches_regex: untri(f >> MATCHES_SHIFT)?,
            url,
            target,
            name,
            location,
            up: untri(f >> UP_SHIFT)?,
            error_kind: kinds[i],
            phases_ms: phases[i],
            ip: refs[2][i].map(str::to_owned),
            http_version: refs[3][i].map(str::to_owned),
            body_bytes: take(HAS_BODY_BYTES)
                .then(|| body_bytes.next())
                .flatten()
                .map(|b| b as u64),
            redirects: take(HAS_REDIRECTS).then(|| redirects.next()).flatten(),
            tls_cert_not_after: take(HAS_TLS).then(|| tls.next()).flatten().map(from_micros),
            // From the extras, below.
            conditions: None,
            degraded: None,
            dns: None,
            icmp: None,
            tls: None,
            tcp: None,
            grpc: None,
            push: None,
            // Not kept (ProbeEvent 0.6.0): this store serves one location; a fleet's rounds go
            // through Kafka and PostgreSQL.
            round: None,
            recheck: None,
        };
        let mut packed = Packed {
            event,
            extras: take(HAS_EXTRAS).then(|| extras.next()).flatten(),
        };
        if let Some(x) = packed.extras.as_deref().and_then(Extras::read) {
            x.apply(&mut packed.event);
            packed.extras = None;
        }
        out.push(packed);
    }
    Ok(out)
}

fn error_kind(s: &str) -> Result<ErrorKind, PackError> {
    ErrorKind::ALL
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or(PackError::Corrupt("error_kind"))
}
