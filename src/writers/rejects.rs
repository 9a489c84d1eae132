//! Rows the database will never take (a value out of range, a broken constraint) are kept, not
//! dropped: by default appended to `DATA_DIR/rejects/<table>.jsonl` as
//! `{"uuid", "table", "reason", "rejected_at", "event"}` lines; a Kafka consumer hands the
//! writer its dead-letter topic instead (`dead_letter_sink`).

use std::io::Write;
use std::path::PathBuf;
#[cfg(feature = "kafka")]
use std::sync::Arc;

use serde_json::{Value, json};

#[cfg(feature = "kafka")]
use crate::config::Settings;
#[cfg(feature = "kafka")]
use crate::kafka::{DeadLetter, DeadLetters};
#[cfg(feature = "kafka")]
use tokio_util::sync::CancellationToken;

/// One row that could not be written.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    pub table: String,
    pub uuid: Option<String>,
    pub reason: String,
    pub event: Value,
}

impl Rejected {
    pub fn new(table: &str, event: &Value, reason: impl Into<String>) -> Rejected {
        Rejected {
            table: table.to_owned(),
            uuid: event.get("uuid").and_then(Value::as_str).map(str::to_owned),
            reason: reason.into(),
            event: event.clone(),
        }
    }
}

/// Why rejected rows could not be kept.
#[derive(Debug, thiserror::Error)]
pub enum RejectError {
    #[error("rejects file in {dir}: {source}")]
    File {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("a rejected row cannot be encoded: {0}")]
    Encode(#[from] serde_json::Error),
    /// Shutdown's time ran out before the dead-letter topic took them.
    #[error("shutdown timeout reached before the rejected rows were kept")]
    ShutDown,
}

/// Where rejected rows go.
#[async_trait::async_trait]
pub trait RejectSink: Send + Sync {
    /// Keeps `rows` durably; an error here is fatal for the writer (a row would be lost).
    async fn keep(&self, rows: Vec<Rejected>) -> Result<(), RejectError>;
}

/// JSON lines under a folder, one file per table, fsynced.
#[derive(Debug, Clone)]
pub struct RejectFile {
    pub dir: PathBuf,
}

#[async_trait::async_trait]
impl RejectSink for RejectFile {
    async fn keep(&self, rows: Vec<Rejected>) -> Result<(), RejectError> {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            std::fs::create_dir_all(&dir)?;
            let now = crate::event::format_time(time::OffsetDateTime::now_utc());
            let mut by_table: std::collections::BTreeMap<&str, Vec<&Rejected>> = Default::default();
            for r in &rows {
                by_table.entry(r.table.as_str()).or_default().push(r);
            }
            for (table, rows) in by_table {
                let path = dir.join(format!("{table}.jsonl"));
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)?;
                let mut buf = Vec::new();
                for r in rows {
                    serde_json::to_writer(
                        &mut buf,
                        &json!({"uuid": r.uuid, "table": r.table, "reason": r.reason,
                                "rejected_at": now, "event": r.event}),
                    )?;
                    buf.push(b'\n');
                }
                f.write_all(&buf)?;
                f.sync_all()?;
            }
            Ok(())
        })
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r)
        .map_err(|source| RejectError::File {
            dir: self.dir.clone(),
            source,
        })
    }
}

/// Rows the database rejects while consuming go to the dead-letter topic too (not a local
/// file): delivered before the batch's offsets are stored.
#[cfg(feature = "kafka")]
pub struct DeadLetterSink {
    letters: DeadLetters,
    give_up: CancellationToken,
}

/// The sink `writers.postgres` uses for rejected rows when the events come from Kafka; its
/// retries end when `give_up` is cancelled.
#[cfg(feature = "kafka")]
pub fn dead_letter_sink(
    settings: &Settings,
    give_up: CancellationToken,
) -> Result<Arc<dyn RejectSink>, String> {
    let letters =
        DeadLetters::new(&settings.kafka, settings.event_format).map_err(|e| e.to_string())?;
    Ok(Arc::new(DeadLetterSink { letters, give_up }))
}

#[cfg(feature = "kafka")]
#[async_trait::async_trait]
impl RejectSink for DeadLetterSink {
    async fn keep(&self, rows: Vec<Rejected>) -> Result<(), RejectError> {
        for row in rows {
            let letter = DeadLetter {
                payload: serde_json::to_vec(&row.event)?,
                key: row.uuid.map(String::into_bytes),
                reason: format!("rejected by {}: {}", row.table, row.reason),
                partition: -1,
                offset: -1,
            };
            self.letters
                .send(&letter, &self.give_up)
                .await
                .map_err(|_| RejectError::ShutDown)?;
        }
        Ok(())
    }
}
