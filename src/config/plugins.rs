//! Reader and writer plugin names, with every alias the original accepted.

use super::Expected;

/// Where events come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReaderPlugin {
    /// `readers.probes.http`: probe the configured targets.
    HttpProbe,
    /// `readers.dummy`: synthetic events, for testing pipelines.
    Dummy,
    /// `readers.kafka`: consume events other instances produced.
    Kafka,
}

/// Where events go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriterPlugin {
    /// `writers.stdout`: JSON lines on standard output.
    Stdout,
    /// `writers.dummy`: counts and discards.
    Dummy,
    /// `writers.postgres`: PostgreSQL tables (`DATABASE_URL`).
    Postgres,
    /// `writers.sqlite`: the embedded store behind `uptimer serve`.
    Sqlite,
    /// `writers.kafka`: produce to a Kafka topic.
    Kafka,
}

const READERS: &[(&str, ReaderPlugin)] = &[
    ("readers.probes.http", ReaderPlugin::HttpProbe),
    ("readers.prober.http", ReaderPlugin::HttpProbe),
    ("readers.probes", ReaderPlugin::HttpProbe),
    // The kind is per target: these name the same reader.
    ("readers.probes.tcp", ReaderPlugin::HttpProbe),
    ("readers.probes.icmp", ReaderPlugin::HttpProbe),
    ("readers.probes.dns", ReaderPlugin::HttpProbe),
    ("readers.dummy", ReaderPlugin::Dummy),
    ("readers.dummies", ReaderPlugin::Dummy),
    ("readers.dummies.dummy_events", ReaderPlugin::Dummy),
    ("readers.kafka", ReaderPlugin::Kafka),
];

const WRITERS: &[(&str, WriterPlugin)] = &[
    ("writers.stdout", WriterPlugin::Stdout),
    ("writers.dummy", WriterPlugin::Dummy),
    ("writers.dummies", WriterPlugin::Dummy),
    ("writers.postgres", WriterPlugin::Postgres),
    ("writers.sqlite", WriterPlugin::Sqlite),
    ("writers.kafka", WriterPlugin::Kafka),
];

impl ReaderPlugin {
    pub fn name(self) -> &'static str {
        match self {
            ReaderPlugin::HttpProbe => "readers.probes.http",
            ReaderPlugin::Dummy => "readers.dummy",
            ReaderPlugin::Kafka => "readers.kafka",
        }
    }
}

impl WriterPlugin {
    pub fn name(self) -> &'static str {
        match self {
            WriterPlugin::Stdout => "writers.stdout",
            WriterPlugin::Dummy => "writers.dummy",
            WriterPlugin::Postgres => "writers.postgres",
            WriterPlugin::Sqlite => "writers.sqlite",
            WriterPlugin::Kafka => "writers.kafka",
        }
    }
}

/// `module:Class` forms name the module; the class is whatever the original called it.
fn module(name: &str) -> String {
    name.trim()
        .split(':')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

fn lookup<T: Copy>(table: &[(&str, T)], name: &str) -> Result<T, Expected> {
    let m = module(name);
    if let Some((_, p)) = table.iter().find(|(n, _)| *n == m) {
        return Ok(*p);
    }
    let known: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
    Err(Expected::new(format!("one of {}", known.join(", "))))
}

pub fn reader(name: &str) -> Result<ReaderPlugin, Expected> {
    lookup(READERS, name)
}

/// A comma-separated list fans out to every writer named.
pub fn writers(names: &str) -> Result<Vec<WriterPlugin>, Expected> {
    let mut out = Vec::new();
    for name in names.split(',').filter(|n| !n.trim().is_empty()) {
        let w = lookup(WRITERS, name)?;
        if !out.contains(&w) {
            out.push(w);
        }
    }
    if out.is_empty() {
        return Err(lookup(WRITERS, "").unwrap_err());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn original_names_and_aliases() {
        assert_eq!(reader("readers.probes.http"), Ok(ReaderPlugin::HttpProbe));
        assert_eq!(reader("readers.prober.http"), Ok(ReaderPlugin::HttpProbe));
        assert_eq!(
            reader("readers.dummies.dummy_events"),
            Ok(ReaderPlugin::Dummy)
        );
        assert_eq!(
            reader("readers.probes.http:HTTPProbeReader"),
            Ok(ReaderPlugin::HttpProbe)
        );
        assert_eq!(
            writers("writers.stdout, writers.dummy:DummyWriter"),
            Ok(vec![WriterPlugin::Stdout, WriterPlugin::Dummy])
        );
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        let e = reader("readers.nope").unwrap_err();
        assert_eq!(
            e.to_string(),
            "one of readers.probes.http, readers.prober.http, readers.probes, readers.probes.tcp, \
             readers.probes.icmp, readers.probes.dns, readers.dummy, readers.dummies, \
             readers.dummies.dummy_events, readers.kafka"
        );
        assert!(
            writers(" , ")
                .unwrap_err()
                .to_string()
                .contains("writers.stdout")
        );
    }
}
