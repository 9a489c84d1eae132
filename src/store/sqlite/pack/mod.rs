//! The packed forms of the compact store: a block of one target's raw events (an hour of them)
//! and a target-day of hour rollups, each as a few hundred bytes instead of a row per item.
//! Pure functions, no SQL: the store keeps the bytes and the `strings` table behind [`Intern`]
//! and [`Resolve`]. Columnar inside, then zstd; every field round-trips, times and phases to
//! the microsecond. Hostile bytes give a [`PackError`], never a panic or a huge allocation.
//!
//! The figures behind the format's choices come from `cargo run --release --example
//! pack_sizes` over [`sample`]'s realistic events.

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

pub use events::{AsPacked, Packed, decode_events, decode_packed, encode_events, string_ids};
pub use frame::{Compression, DEFAULT_LEVEL, VERSION};
pub use hours::{decode_hours, encode_hours};
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
