//! `uptimer alert test CHANNEL`: sends a test notification through a channel of the
//! configuration and prints what the provider answered. Incident-tracking channels
//! (PagerDuty, Opsgenie) get the test's trigger and then its resolve, so no test incident stays
//! open. Exit 0 when the provider took it, 1 when not, 2 on a configuration error.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::alerting::send;
use crate::config::alerting::ChannelKind;
use crate::config::{ConfigError, Overrides};
use crate::store::alerts::{Delivery, Notice, NoticeTarget};

#[derive(Debug, Args)]
pub struct AlertArgs {
    #[command(subcommand)]
    pub command: AlertCommand,
}

#[derive(Debug, Subcommand)]
pub enum AlertCommand {
    /// Send a test notification through CHANNEL (a name of the config's `channels:`) and print
    /// the provider's answer, secrets masked.
    Test {
        /// The channel's name.
        channel: String,
        /// The YAML or TOML config file with the channels (as `run` and `serve` read it).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

fn test_notice(kind: &str, key: &str, channel: &str) -> Notice {
    let target = NoticeTarget {
        id: "uptimer-test".into(),
        name: "uptimer test".into(),
        url: String::new(),
        tags: Vec::new(),
    };
    Notice {
        severity: crate::state::rules::Severity::Info,
        description: Some("a test notification sent by `uptimer alert test`".into()),
        reason: (kind == "resolve").then(|| "recovered".into()),
        ..Notice::about(
            kind,
            key.into(),
            channel.into(),
            target,
            time::OffsetDateTime::now_utc(),
        )
    }
}

pub fn alert(args: AlertArgs) -> ExitCode {
    let AlertCommand::Test { channel, config } = args.command;
    let settings = match super::load_settings(config.as_deref(), &[], &Overrides::default()) {
        Ok(s) => s,
        Err(e) => return super::config_error(&e),
    };
    let Some(c) = settings.alerting.channels.get(&channel).cloned() else {
        let known: Vec<&str> = settings
            .alerting
            .channels
            .keys()
            .map(String::as_str)
            .collect();
        return super::config_error(&ConfigError::new(
            "CHANNEL",
            channel,
            if known.is_empty() {
                "a channel of the config's channels: (none is configured; pass --config FILE)"
                    .to_owned()
            } else {
                format!("a channel of the config's channels: ({})", known.join(", "))
            },
        ));
    };
    let client = match send::client() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("uptimer: {e}");
            return ExitCode::FAILURE;
        }
    };
    let key = format!(
        "uptimer-test-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let kinds: &[&str] = if matches!(c.kind, ChannelKind::PagerDuty | ChannelKind::Opsgenie) {
        &["test", "resolve"]
    } else {
        &["test"]
    };
    super::runtime().block_on(async {
        for kind in kinds {
            println!("{} {} ({})", kind, c.shown_url(), c.kind);
            match send::notify(&client, &c, &test_notice(kind, &key, &c.name), 0).await {
                Delivery::Sent { answer } => println!("  delivered: {answer}"),
                Delivery::Retry { error, .. } => {
                    println!("  not delivered (would be retried): {error}");
                    return ExitCode::FAILURE;
                }
                Delivery::Failed { error } => {
                    println!("  refused (would not be retried): {error}");
                    return ExitCode::FAILURE;
                }
                Delivery::Skipped { why } => println!("  skipped: {why}"),
            }
        }
        ExitCode::SUCCESS
    })
}
