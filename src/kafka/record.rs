//! A record of a keyed log, as the readers of one see it (no librdkafka needed to fold them).

/// One record of a keyed log; `value: None` is a tombstone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub partition: i32,
    pub offset: i64,
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
}
