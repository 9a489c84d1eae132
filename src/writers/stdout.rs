//! `writers.stdout`: events as JSON lines on standard output (or indented, as the original
//! printed them, with `STDOUT_PRETTY=true`), flushed once per batch.

use serde::Serialize;
use tokio::io::AsyncWriteExt;

use super::{Durable, WriteError, Writer, durable_now};
use crate::event::Event;

pub struct StdoutWriter {
    pretty: bool,
    out: tokio::io::Stdout,
    buf: Vec<u8>,
}

impl StdoutWriter {
    pub fn new(pretty: bool) -> Self {
        StdoutWriter {
            pretty,
            out: tokio::io::stdout(),
            buf: Vec::with_capacity(64 * 1024),
        }
    }
}

#[async_trait::async_trait]
impl Writer for StdoutWriter {
    fn name(&self) -> &'static str {
        "writers.stdout"
    }

    /// Standard output is as durable as it gets once flushed.
    async fn write(&mut self, batch: Vec<Event>) -> Result<Durable, WriteError> {
        self.buf.clear();
        for event in &batch {
            encode(event, self.pretty, &mut self.buf);
        }
        self.out.write_all(&self.buf).await.map_err(fatal)?;
        self.out.flush().await.map_err(fatal)?;
        Ok(durable_now())
    }

    async fn close(&mut self) -> Result<(), WriteError> {
        self.out.flush().await.map_err(fatal)
    }
}

/// One event as a line (or an indented block), newline included.
pub fn encode(event: &Event, pretty: bool, buf: &mut Vec<u8>) {
    // Writing plain data into a Vec cannot fail.
    if pretty {
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        let mut ser = serde_json::Serializer::with_formatter(&mut *buf, fmt);
        let _ = event.serialize(&mut ser);
    } else {
        let _ = serde_json::to_writer(&mut *buf, event);
    }
    buf.push(b'\n');
}

fn fatal(e: std::io::Error) -> WriteError {
    WriteError::Fatal {
        writer: "writers.stdout",
        message: format!("cannot write to standard output: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::DummyEvent;

    #[test]
    fn lines_and_pretty_blocks() {
        let e = Event::from(DummyEvent::new("t", "r", 1, 0.5));
        let mut buf = Vec::new();
        encode(&e, false, &mut buf);
        let line = String::from_utf8(buf).unwrap();
        assert_eq!(line.matches('\n').count(), 1);
        assert!(line.starts_with("{\"schema_title\":\"DummyEvent\""));
        let mut buf = Vec::new();
        encode(&e, true, &mut buf);
        let text = String::from_utf8(buf).unwrap();
        assert!(
            text.starts_with("{\n    \"schema_title\": \"DummyEvent\",\n"),
            "{text}"
        );
    }

    #[test]
    fn a_verdict_is_printed_as_its_document() {
        let v = crate::event::VerdictEvent::new(
            "t",
            7,
            crate::event::Verdict::Partial,
            time::OffsetDateTime::now_utc(),
        );
        let mut buf = Vec::new();
        encode(&Event::from(v.clone()), false, &mut buf);
        let doc: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(doc["schema_title"], "VerdictEvent");
        assert_eq!(doc["verdict"], "partial");
        assert_eq!(doc["uuid"], v.envelope.uuid.to_string());
    }
}
