//! `uptimer publish --config FILE`: syncs a file's targets to the fleet's targets topic. Each
//! target new or changed since the last publish of this source is upserted (a JobEvent keyed by
//! its id, with the whole target object), each target this source published before that the
//! file no longer has is removed (a tombstone; `--no-delete` only upserts), and another
//! source's targets are left alone. Exit 0 when published, 1 when the brokers fail, 2 on a
//! configuration error (the file's, a target's, or an id another source holds).

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::config::{ConfigError, Overrides, Settings};
use crate::fleet::objects::{self, Completed};

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The YAML or TOML config file whose `targets:` (and `targets_file:`) are published; its
    /// `fleet:` section and the environment's KAFKA_* and FLEET_* say where.
    #[arg(long, short)]
    pub config: PathBuf,
    /// A targets file published instead of the config file's `targets_file:`.
    #[arg(long, value_name = "PATH")]
    pub targets_file: Option<PathBuf>,
    /// Only upsert: leave the targets this source published before and no longer lists.
    #[arg(long)]
    pub no_delete: bool,
    /// Who publishes, recorded with each target [default: file:<the config file's name>]. One
    /// source never removes or overwrites another's targets.
    #[arg(long, value_name = "NAME")]
    pub source: Option<String>,
    /// Print what would change, change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// The targets to publish, checked, each id once.
fn wanted(args: &PublishArgs, settings: &Settings) -> Result<Vec<Completed>, String> {
    let written =
        objects::read(&args.config, args.targets_file.as_deref()).map_err(|e| e.to_string())?;
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(written.len());
    for w in &written {
        let c = objects::complete(w, &settings.defaults).map_err(|e| e.to_string())?;
        if !seen.insert(c.id.clone()) {
            return Err(format!(
                "{}: a second target with id {:?}: give one an id of its own",
                w.label, c.id
            ));
        }
        out.push(c);
    }
    Ok(out)
}

/// The source name: `--source`, else `file:` and the config file's name.
#[cfg_attr(not(feature = "kafka"), allow(dead_code))]
fn source_of(args: &PublishArgs) -> String {
    args.source.clone().unwrap_or_else(|| {
        let name = args
            .config
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| args.config.display().to_string());
        format!("file:{name}")
    })
}

pub fn publish(args: PublishArgs) -> ExitCode {
    let flags = Overrides {
        targets_file: args.targets_file.clone(),
        url_placeholders: true,
        ..Overrides::default()
    };
    let settings = match super::load_settings(Some(&args.config), &["PROBE_URLS"], &flags) {
        Ok(s) => s,
        Err(e) => return super::config_error(&e),
    };
    if settings.fleet.is_none() {
        return super::config_error(&ConfigError::new(
            "fleet.locations",
            "",
            "the fleet's locations (FLEET_LOCATIONS or fleet.locations): publish is for a fleet (docs/fleet.md)",
        ));
    }
    if settings.kafka.bootstrap.is_none() {
        return super::config_error(&ConfigError::new(
            "KAFKA_BOOTSTRAP_SERVER",
            "",
            "the brokers of the fleet's targets topic",
        ));
    }
    let wanted = match wanted(&args, &settings) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("uptimer: {e}");
            return ExitCode::from(super::EXIT_CONFIG);
        }
    };
    sync(&args, &settings, wanted)
}

#[cfg(not(feature = "kafka"))]
fn sync(_: &PublishArgs, _: &Settings, _: Vec<Completed>) -> ExitCode {
    eprintln!("uptimer: {}", crate::NO_KAFKA);
    ExitCode::from(super::EXIT_CONFIG)
}

#[cfg(feature = "kafka")]
fn sync(args: &PublishArgs, settings: &Settings, wanted: Vec<Completed>) -> ExitCode {
    use std::time::Duration;

    use crate::fleet::publish::{Op, plan};
    use crate::fleet::{meta, targets};
    use crate::kafka::log::{self, TopicSpec};

    let Some(fleet) = &settings.fleet else {
        return ExitCode::from(super::EXIT_CONFIG);
    };
    let k = &settings.kafka;
    let source = source_of(args);
    let result = super::runtime().block_on(async {
        let compact = log::compacted(Duration::from_secs(7 * 24 * 3600));
        let config: Vec<(&str, &str)> = compact.iter().map(|(k, v)| (*k, v.as_str())).collect();
        log::ensure_topics_with(
            k,
            &[
                TopicSpec {
                    name: &fleet.targets_topic,
                    partitions: fleet.targets_partitions,
                    config: &config,
                },
                TopicSpec {
                    name: &fleet.meta_topic,
                    partitions: 1,
                    config: &config,
                },
            ],
        )
        .await
        .map_err(|e| (1, e.to_string()))?;
        meta::check_partitions(k, &fleet.meta_topic, &fleet.targets_topic)
            .await
            .map_err(|e| match e {
                meta::MetaError::Mismatch { .. } => (2, e.to_string()),
                e => (1, e.to_string()),
            })?;
        let records = log::read_to_end(k, &fleet.targets_topic, Duration::from_secs(120))
            .await
            .map_err(|e| (1, e.to_string()))?;
        let (now, bad) = targets::fold(&records);
        if !bad.is_empty() {
            tracing::warn!(count = bad.len(), first = %bad[0], "records of the targets topic that are not targets were skipped");
        }
        let mut jobs: std::collections::HashMap<String, Completed> =
            wanted.into_iter().map(|c| (c.id.clone(), c)).collect();
        let pairs = jobs
            .values()
            .map(|c| (c.id.clone(), c.definition.clone()))
            .collect();
        let plan = plan(&now, &source, pairs, args.no_delete).map_err(|e| (2, e.to_string()))?;
        let summary = format!(
            "published {} target(s), {} unchanged, {} removed (source {source}, topic {})",
            plan.upserts(),
            plan.unchanged,
            plan.tombstones(),
            fleet.targets_topic
        );
        if args.dry_run {
            for op in &plan.ops {
                match op {
                    Op::Upsert { id, .. } => println!("upsert {id}"),
                    Op::Tombstone { id } => println!("remove {id}"),
                }
            }
            return Ok(format!("dry run: would have {summary}"));
        }
        let mut records = Vec::with_capacity(plan.ops.len());
        for op in &plan.ops {
            match op {
                Op::Upsert { id, .. } => {
                    let Some(c) = jobs.remove(id) else { continue };
                    let job = crate::event::Event::Job(objects::job(&c, &source));
                    let payload = serde_json::to_vec(&job).map_err(|e| (1, e.to_string()))?;
                    records.push((id.clone(), Some(payload)));
                }
                Op::Tombstone { id } => records.push((id.clone(), None)),
            }
        }
        log::write(k, &fleet.targets_topic, &records)
            .await
            .map_err(|e| (1, e.to_string()))?;
        Ok(summary)
    });
    match result {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err((code, e)) => {
            eprintln!("uptimer: {e}");
            ExitCode::from(code)
        }
    }
}
