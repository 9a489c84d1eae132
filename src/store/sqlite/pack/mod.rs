//! The packed forms of the compact store: a block of one target's raw events (an hour of them)
//! and a target-day of hour rollups, each as a few hundred bytes instead of a row per item.
//! Pure functions, no SQL: the store keeps the bytes and the `strings` table behind [`Intern`]
//! and [`Resolve`]. Every field round-trips, times and phases to the microsecond. Hostile bytes
//! give a [`PackError`], never a panic or a huge allocation.
//!
//! Why this shape (`cargo run --release --example pack_sizes`, over [`sample`]'s realistic
//! events): the random uuids are 16 of the ~28 bytes an event costs and cannot shrink; the
//! rest is noise in microseconds (jitter, phases), which zstd's byte statistics barely touch
//! (34 B/event with varint columns and zstd 19). So each field is a numeric column coded near
//! its entropy (`columns`: 28 B/event, 463 B per target-day), and zstd runs over the result
//! only where it still gains (large blocks, extras): level 3 gains what 19 does, faster.

mod columns;
mod descriptor;
mod events;
mod frame;
mod hours;
pub mod sample;
mod strings;
#[cfg(test)]
mod tests;
mod varint;

pub use events::{
    AsPacked, MAX_EVENTS, Packed, Point, decode_events, decode_packed, decode_points,
    encode_events, string_ids,
};
pub use frame::{Compression, DEFAULT_LEVEL, VERSION};
pub use hours::{MAX_HOURS, decode_hour_counts, decode_hours, encode_hours};
pub use strings::{Intern, Resolve, Strings};

/// Why bytes could not be packed or unpacked.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PackError {
    #[error("packed data ends too early")]
    Truncated,
    #[error("packed data is corrupt: {0}")]
    Corrupt(&'static str),
    #[error("packed data claims {count} items with {room} bytes left")]
    Count { count: u64, room: usize },
    #[error("unknown packed format (header byte {0:#04x})")]
    Format(u8),
    #[error("string id {0} is not in the string table")]
    UnknownString(u64),
    #[error("string id {0} is already bound to another string")]
    StringConflict(u64),
    #[error("zstd: {0}")]
    Zstd(String),
    /// A value the format cannot keep exactly (a NaN, a negative phase, a time past year 9999).
    #[error("{0} cannot be packed: out of range")]
    Unrepresentable(&'static str),
    /// The store's string table failed (for implementations of [`Intern`] and [`Resolve`]).
    #[error("string table: {0}")]
    Strings(String),
}
