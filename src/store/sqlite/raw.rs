//! Raw events: the open hours one row each (`events_open`), every closed hour of a target one
//! packed block (`event_blocks`). The pack job moves an hour into its block at
//! [`PACK_DELAY`] after it closed; an event arriving later for a packed hour is merged into the
//! block at once. A re-delivered event (same uuid, target and time) is found within its
//! target and hour, in the rows or in the block, so it is stored once without a global index.

use std::collections::HashSet;

use rusqlite::{Connection, OptionalExtension, params};

use super::pack::{self, Compression, Intern, Resolve};
use crate::event::ProbeEvent;
use crate::store::{HOUR, MINUTE, Micros, StoreError, to_micros};

/// An hour is packed this long after it closed (late events of a prober's last round first).
pub const PACK_DELAY: Micros = 5 * MINUTE;

/// The start of the hour of `t`.
pub fn hour_of(t: Micros) -> Micros {
    t.saturating_sub(t.rem_euclid(HOUR))
}

/// Hours starting before this may have been packed at `now`.
pub fn pack_limit(now: Micros) -> Micros {
    hour_of(now - PACK_DELAY)
}

/// What storing one event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    New,
    Duplicate,
}

/// Stores `e` (time `t`) of target `key`, unless it is stored already. Its hour may have a
/// block whatever the clock says now (a clock set back, a store packed by another process), so
/// the block is looked for first: one index lookup that finds nothing for the open hours.
pub fn insert<S: Intern + Resolve>(
    c: &Connection,
    strings: &mut S,
    key: i64,
    e: &ProbeEvent,
    t: Micros,
) -> Result<Stored, StoreError> {
    let hour = hour_of(t);
    if let Some((id, data)) = block(c, key, hour)? {
        let mut events = pack::decode_events(&data, strings)?;
        if events.iter().any(|x| same(x, e)) {
            return Ok(Stored::Duplicate);
        }
        events.push(e.clone());
        write_block(c, strings, Some(id), key, hour, &events)?;
        return Ok(Stored::New);
    }
    let row = pack::encode_events(std::slice::from_ref(e), strings, Compression::None)?;
    let n = c
        .prepare_cached(
            "INSERT INTO events_open (target, time, uuid, event) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![key, t, e.envelope.uuid.as_bytes(), row])?;
    Ok(if n == 1 {
        Stored::New
    } else {
        Stored::Duplicate
    })
}

/// The same event: same uuid and time (the target is the block's or the row's).
fn same(a: &ProbeEvent, b: &ProbeEvent) -> bool {
    a.envelope.uuid == b.envelope.uuid
        && to_micros(a.envelope.event_time) == to_micros(b.envelope.event_time)
}

fn block(c: &Connection, key: i64, hour: Micros) -> Result<Option<(i64, Vec<u8>)>, StoreError> {
    Ok(
        c.prepare_cached("SELECT id, data FROM event_blocks WHERE target = ?1 AND hour = ?2")?
            .query_row(params![key, hour], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?,
    )
}

fn write_block<S: Intern>(
    c: &Connection,
    strings: &mut S,
    id: Option<i64>,
    key: i64,
    hour: Micros,
    events: &[ProbeEvent],
) -> Result<(), StoreError> {
    let data = pack::encode_events(events, strings, Compression::DEFAULT)?;
    match id {
        Some(id) => c
            .prepare_cached("UPDATE event_blocks SET events = ?2, data = ?3 WHERE id = ?1")?
            .execute(params![id, events.len() as i64, data])?,
        None => c
            .prepare_cached(
                "INSERT INTO event_blocks (target, hour, events, data) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![key, hour, events.len() as i64, data])?,
    };
    Ok(())
}

/// Writes a closed hour's block straight (the benchmark's generator; the events are new).
pub fn put_block<S: Intern>(
    c: &Connection,
    strings: &mut S,
    key: i64,
    hour: Micros,
    events: &[ProbeEvent],
) -> Result<(), StoreError> {
    write_block(c, strings, None, key, hour, events)
}

/// The hours of target `key` with open rows before `limit`.
pub fn open_hours(c: &Connection, key: i64, limit: Micros) -> Result<Vec<Micros>, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT DISTINCT time - ((time % ?3) + ?3) % ?3 FROM events_open
         WHERE target = ?1 AND time < ?2",
    )?;
    let hours = stmt
        .query_map(params![key, limit, HOUR], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(hours)
}

/// Moves the open rows of target `key` and `hour` into its block (merged with the block the
/// hour has already, duplicates once); returns the events moved.
pub fn pack_hour<S: Intern + Resolve>(
    c: &Connection,
    strings: &mut S,
    key: i64,
    hour: Micros,
) -> Result<usize, StoreError> {
    let rows: Vec<Vec<u8>> = c
        .prepare_cached(
            "SELECT event FROM events_open WHERE target = ?1 AND time >= ?2 AND time < ?3",
        )?
        .query_map(params![key, hour, hour + HOUR], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if rows.is_empty() {
        return Ok(0);
    }
    let existing = block(c, key, hour)?;
    let mut events = match &existing {
        Some((_, data)) => pack::decode_events(data, strings)?,
        None => Vec::new(),
    };
    let mut seen: HashSet<(uuid::Uuid, Micros)> = events
        .iter()
        .map(|e| (e.envelope.uuid, to_micros(e.envelope.event_time)))
        .collect();
    let moved = rows.len();
    for row in rows {
        let e = decode_one(&row, strings)?;
        if seen.insert((e.envelope.uuid, to_micros(e.envelope.event_time))) {
            events.push(e);
        }
    }
    write_block(c, strings, existing.map(|(id, _)| id), key, hour, &events)?;
    drop_hour(c, key, hour)?;
    Ok(moved)
}

/// Deletes the open rows of target `key` and `hour` (past the raw horizon).
pub fn drop_hour(c: &Connection, key: i64, hour: Micros) -> Result<usize, StoreError> {
    Ok(
        c.prepare_cached("DELETE FROM events_open WHERE target = ?1 AND time >= ?2 AND time < ?3")?
            .execute(params![key, hour, hour + HOUR])?,
    )
}

/// Target `key`'s events in `[from, to)`, every one, in (time, uuid) order.
pub fn events_in<S: Resolve>(
    c: &Connection,
    strings: &S,
    key: i64,
    from: Micros,
    to: Micros,
) -> Result<Vec<ProbeEvent>, StoreError> {
    let mut out = in_range(
        c,
        key,
        from,
        to,
        |b| pack::decode_events(b, strings),
        |e| to_micros(e.envelope.event_time),
    )?;
    out.sort_by_key(|e| (to_micros(e.envelope.event_time), e.envelope.uuid));
    Ok(out)
}

/// Target `key`'s events in `[from, to)` as chart points (series under an hour), in time
/// order: the fields a chart needs only, so no strings are resolved.
pub fn points_in(
    c: &Connection,
    key: i64,
    from: Micros,
    to: Micros,
) -> Result<Vec<pack::Point>, StoreError> {
    let mut out = in_range(c, key, from, to, pack::decode_points, |p| p.time)?;
    out.sort_by_key(|p| p.time);
    Ok(out)
}

/// What `decode` reads of target `key`'s open rows and blocks in `[from, to)`, unordered.
fn in_range<T>(
    c: &Connection,
    key: i64,
    from: Micros,
    to: Micros,
    decode: impl Fn(&[u8]) -> Result<Vec<T>, pack::PackError>,
    time: impl Fn(&T) -> Micros,
) -> Result<Vec<T>, StoreError> {
    let mut out = Vec::new();
    for sql in [
        "SELECT event FROM events_open WHERE target = ?1 AND time >= ?2 AND time < ?4",
        "SELECT data FROM event_blocks WHERE target = ?1 AND hour >= ?3 AND hour < ?4",
    ] {
        let mut stmt = c.prepare_cached(sql)?;
        let mut q = stmt.query(params![key, from, hour_of(from), to])?;
        while let Some(r) = q.next()? {
            let items = decode(r.get_ref(0)?.as_blob().unwrap_or_default())?;
            out.extend(items.into_iter().filter(|x| (from..to).contains(&time(x))));
        }
    }
    Ok(out)
}

/// Target `key`'s newest `limit` events in `[from, to)`, newest first.
pub fn newest<S: Resolve>(
    c: &Connection,
    strings: &S,
    key: i64,
    from: Micros,
    to: Micros,
    limit: usize,
) -> Result<Vec<ProbeEvent>, StoreError> {
    let by_time = |e: &ProbeEvent| (to_micros(e.envelope.event_time), e.envelope.uuid);
    let mut out = open_rows(c, strings, key, from, to, limit as i64)?;
    let mut stmt = c.prepare_cached(
        "SELECT hour, data FROM event_blocks WHERE target = ?1 AND hour >= ?2 AND hour < ?3
         ORDER BY hour DESC",
    )?;
    let mut q = stmt.query(params![key, hour_of(from), to])?;
    while let Some(r) = q.next()? {
        let hour: Micros = r.get(0)?;
        if out.len() >= limit {
            // Enough, unless this block holds newer events than the oldest kept.
            out.sort_by_key(|e| std::cmp::Reverse(by_time(e)));
            out.truncate(limit);
            if out.last().is_some_and(|e| by_time(e).0 >= hour + HOUR) {
                break;
            }
        }
        let data = r.get_ref(1)?.as_blob().unwrap_or_default();
        out.extend(
            pack::decode_events(data, strings)?
                .into_iter()
                .filter(|e| (from..to).contains(&to_micros(e.envelope.event_time))),
        );
    }
    out.sort_by_key(|e| std::cmp::Reverse(by_time(e)));
    out.truncate(limit);
    Ok(out)
}

fn open_rows<S: Resolve>(
    c: &Connection,
    strings: &S,
    key: i64,
    from: Micros,
    to: Micros,
    limit: i64,
) -> Result<Vec<ProbeEvent>, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT event FROM events_open WHERE target = ?1 AND time >= ?2 AND time < ?3
         ORDER BY time DESC LIMIT ?4",
    )?;
    let mut q = stmt.query(params![key, from, to, limit])?;
    let mut out = Vec::new();
    while let Some(r) = q.next()? {
        out.push(decode_one(
            r.get_ref(0)?.as_blob().unwrap_or_default(),
            strings,
        )?);
    }
    Ok(out)
}

/// The event of an open row.
fn decode_one<S: Resolve>(bytes: &[u8], strings: &S) -> Result<ProbeEvent, StoreError> {
    pack::decode_events(bytes, strings)?
        .pop()
        .ok_or(StoreError::Pack(pack::PackError::Corrupt(
            "an open row without its event",
        )))
}
