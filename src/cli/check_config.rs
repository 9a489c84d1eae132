//! `uptimer check-config`: the effective configuration, secrets masked.

use std::path::Path;
use std::process::ExitCode;

use serde_json::{Value, json};

use super::For;
use crate::config::alerting::Channel;
use crate::config::target::{is_secret_header, masked_url};
use crate::config::{EventFormat, Overrides, Settings, WriterPlugin};
use crate::state::rules::{Rule, Threshold, Watch};

pub fn check_config(config: Option<&Path>, flags: &Overrides, for_command: For) -> ExitCode {
    let mut s = match super::load_settings(config, &[], flags) {
        Ok(s) => s,
        Err(e) => return super::config_error(&e),
    };
    for w in &s.warnings {
        eprintln!("warning: {w}");
    }
    // The same verdict the command itself would reach, in the same words.
    if for_command == For::Run && super::lacks_targets(&s) {
        eprintln!("uptimer: {}", super::NO_TARGETS);
        return ExitCode::from(super::EXIT_CONFIG);
    }
    let other = if s.writers_chosen {
        None
    } else if for_command == For::Serve {
        s.writers = vec![WriterPlugin::Sqlite];
        Some(("run", WriterPlugin::Stdout))
    } else {
        Some(("serve", WriterPlugin::Sqlite))
    };
    print!(
        "{}",
        serde_yaml_ng::to_string(&describe(&s)).unwrap_or_default()
    );
    // A YAML comment keeps the output a valid document.
    if let Some((command, writer)) = other {
        println!(
            "# uptimer {command} writes to {} instead (check-config --for {command}); WRITER_PLUGIN chooses for both",
            writer.name()
        );
    }
    ExitCode::SUCCESS
}

/// The effective settings as a document; nothing secret survives in it.
pub fn describe(s: &Settings) -> Value {
    let targets: Vec<Value> = s
        .targets
        .iter()
        .map(|t| {
            let headers: serde_json::Map<String, Value> = t
                .headers
                .iter()
                .map(|(k, v)| {
                    let v = if is_secret_header(k.as_str()) { "***".to_owned() } else { v.to_str().unwrap_or("?").to_owned() };
                    (k.to_string(), Value::String(v))
                })
                .collect();
            let mut target = json!({
                "id": t.id,
                "source": t.source.as_str(),
                "name": t.name,
                "kind": t.kind.as_str(),
                "url": masked_url(&t.url),
                "method": t.method.as_str(),
                "headers": headers,
                "expected_status": t.expected_status.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "regex": t.regex.as_ref().map(|r| r.as_str()),
                "interval": t.interval.to_string(),
                "timeout": format!("{}s", t.timeout.as_secs_f64()),
                "tls_verify": t.tls_verify.to_string(),
                "tags": t.tags,
                "conditions": t.conditions.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
                "degraded_if": t.degraded_if.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
            });
            if !t.profile.alerts.is_empty()
                && let Some(o) = target.as_object_mut()
            {
                o.insert(
                    "alerts".into(),
                    t.profile.alerts.iter().map(describe_rule).collect(),
                );
            }
            // A check beyond HTTP: its own settings instead of the request's.
            if let (Some(check), Some(o)) = (t.check.describe(), target.as_object_mut()) {
                for key in ["method", "headers", "expected_status", "regex"] {
                    o.remove(key);
                }
                if let Some(c) = check.as_object() {
                    o.extend(c.clone());
                }
            }
            target
        })
        .collect();
    let mut doc = json!({
        "reader": s.reader.name(),
        "writers": s.writers.iter().map(|w| w.name()).collect::<Vec<_>>(),
        "probe": {
            "interval": s.defaults.interval.to_string(),
            "timeout": format!("{}s", s.defaults.timeout.as_secs_f64()),
            "tls_verify": s.defaults.tls_verify.to_string(),
            "max_redirects": s.probe.max_redirects,
            "max_body_bytes": s.probe.max_body_bytes,
            "concurrency": s.probe.concurrency,
            "location": s.probe.location,
            "dns_servers": s.probe.dns_servers.iter().map(ToString::to_string).collect::<Vec<_>>(),
        },
        "sharding": s.sharding.map(|sh| json!({"total": sh.total, "index": sh.index})),
        "targets_file": s.targets_file.as_ref().map(|p| p.display().to_string()),
        "targets_configured": s.targets_configured,
        "targets": targets,
        "watch": s.watch,
        "allow_private_targets": s.allow_private_targets,
        "stdout_pretty": s.stdout_pretty,
        "event_format": match s.event_format { EventFormat::Current => "current", EventFormat::Original => "original" },
        "data_dir": s.data_dir.display().to_string(),
        "postgres": {
            "database_url": s.postgres.database_url.as_ref().map(|u| u.masked()),
            "ssl_ca_file": s.postgres.ssl_ca_file.as_ref().map(|p| p.display().to_string()),
            "pagesize": s.postgres.page_size,
            "queue_timeout": format!("{}s", s.postgres.queue_timeout.as_secs_f64()),
            "retention_days": s.postgres.retention_days,
            "pool_size": s.postgres.pool_size,
            "buffer_events": s.postgres.buffer_events,
            "spool_max_mb": s.postgres.spool_max_bytes / (1024 * 1024),
            "shutdown_timeout": format!("{}s", s.postgres.shutdown_timeout.as_secs_f64()),
        },
        "store": s.store.describe(),
        "web": s.web.describe(),
        "metrics_listen": s.metrics_listen.map(|a| a.to_string()),
        "heartbeat": s.heartbeat.as_ref().map(|h| h.describe()),
        "fleet": s.fleet.as_ref().map(|f| f.describe()),
        "shutdown_timeout": format!("{}s", s.shutdown_timeout.as_secs_f64()),
        "log_level": s.log_level,
    });
    if !s.alerting.channels.is_empty()
        && let Some(o) = doc.as_object_mut()
    {
        let channels = s.alerting.channels.values();
        o.insert(
            "channels".into(),
            channels
                .map(|c| (c.name.clone(), describe_channel(c)))
                .collect(),
        );
    }
    doc
}

/// A channel with its secrets masked.
fn describe_channel(c: &Channel) -> Value {
    let mut v = json!({"type": c.kind.name(), "url": c.shown_url()});
    let o = v.as_object_mut().expect("an object");
    let fields = [
        ("key", c.key.as_ref().map(|_| "****".to_owned())),
        ("user_key", c.user_key.as_ref().map(|_| "****".to_owned())),
        ("chat_id", c.chat_id.clone()),
        ("topic", c.topic.clone()),
        ("priority", c.priority.clone()),
        ("username", c.username.clone()),
        ("channel", c.channel.clone()),
        (
            "template",
            c.template.as_ref().map(|_| "(custom)".to_owned()),
        ),
    ];
    for (k, value) in fields {
        if let Some(value) = value {
            o.insert(k.into(), value.into());
        }
    }
    if !c.headers.is_empty() {
        let headers: serde_json::Map<String, Value> = c
            .headers
            .iter()
            .map(|(k, v)| {
                let v = if is_secret_header(k) {
                    "***".to_owned()
                } else {
                    c.mask(v)
                };
                (k.clone(), Value::String(v))
            })
            .collect();
        o.insert("headers".into(), headers.into());
    }
    if let Some(e) = &c.email {
        o.insert("tls".into(), e.tls.as_str().into());
        o.insert("from".into(), e.from.to_string().into());
        let to: Vec<String> = e.to.iter().map(ToString::to_string).collect();
        o.insert("to".into(), to.into());
    }
    v
}

/// A target's alert rule as configured.
fn describe_rule(r: &Rule) -> Value {
    let threshold = match r.threshold {
        Threshold::Consecutive(n) => json!({"failure_threshold": n}),
        Threshold::Window { failures, of } => json!({"window": {"failures": failures, "of": of}}),
    };
    let mut v = json!({
        "rule": r.key,
        "channel": r.channel,
        "success_threshold": r.success_threshold,
        "send_on_resolved": r.send_on_resolved,
        "severity": r.severity.map_or("auto (critical when down, else warning)", |s| s.as_str()),
    });
    let o = v.as_object_mut().expect("an object");
    if let Some(t) = threshold.as_object() {
        o.extend(t.clone());
    }
    let secs = |d: std::time::Duration| Value::from(format!("{}s", d.as_secs_f64()));
    let optional = [
        ("for", r.for_at_least.map(secs)),
        ("minimum_reminder_interval", r.remind_every.map(secs)),
        ("reminder_max", r.reminder_max.map(Value::from)),
        (
            "degraded",
            (r.watch == Watch::Degraded).then_some(Value::from(true)),
        ),
        (
            "certificate_expires_within",
            match r.watch {
                Watch::CertificateExpiresWithin(d) => Some(secs(d)),
                _ => None,
            },
        ),
        ("description", r.description.clone().map(Value::from)),
    ];
    for (k, value) in optional {
        if let Some(value) = value {
            o.insert(k.into(), value);
        }
    }
    v
}
