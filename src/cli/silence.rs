//! `uptimer silence add|list|expire` and `uptimer maintenance add|list|end`: the silences and
//! one-off maintenance windows of a running `uptimer serve`, through its API
//! (`/api/v1/silences`, `/api/v1/maintenance`; docs/alerting.md, "Silences and maintenance
//! windows"). Matchers, durations and times are read here, so a typo is bad usage (exit 2)
//! before anything is sent; what only the server can judge (a time already past) is its
//! refusal (exit 1, its message on stderr).

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::api_client::{Client, Failure, ServerArgs, auth, block_on, finish, table};
use crate::store::alerts::gate::{Field, Matcher};

const SILENCE_EXAMPLES: &str = "\
Examples:
  uptimer silence add --match tag=db --for 2h --reason 'db upgrade'
  uptimer silence add --match target=api-* --match channel=pager* \\
      --until 2026-12-06T06:00:00Z --reason 'overnight migration' --by ana
  uptimer silence list --all
  uptimer silence expire 3

A silence holds back the notifications that match all its matchers while it lasts; what it
held goes out at the first failing result after it ends (docs/alerting.md).";

const MAINTENANCE_EXAMPLES: &str = "\
Examples:
  uptimer maintenance add --match tag=db --for 1h --reason 'failover test'
  uptimer maintenance add --starts 2026-12-05T22:00:00Z --for 3h --reason 'datacenter move'
  uptimer maintenance list
  uptimer maintenance end 4

A one-off window made here covers the targets that match all its matchers (every target
without one); recurring windows are configured under maintenance: in the config file, and
`list` shows them too.";

/// `uptimer silence …`.
#[derive(Debug, Args)]
#[command(after_help = SILENCE_EXAMPLES)]
pub struct SilenceArgs {
    #[command(flatten)]
    pub api: ServerArgs,
    #[command(subcommand)]
    pub command: SilenceCommand,
}

#[derive(Debug, Subcommand)]
pub enum SilenceCommand {
    /// Hold back the notifications that match every --match, from now (or --starts) for
    /// --for or until --until.
    #[command(after_help = SILENCE_EXAMPLES)]
    Add {
        /// FIELD=VALUE: target=ID-OR-NAME, tag=TAG or channel=CHANNEL (`*` wildcards in
        /// target= and channel=). Repeat it: a notification is held when it matches all.
        #[arg(long = "match", value_name = "FIELD=VALUE", required = true)]
        matchers: Vec<String>,
        #[command(flatten)]
        span: Span,
    },
    /// List the silences under way or to come (--all: also those over).
    List {
        /// Also the silences that are over.
        #[arg(long)]
        all: bool,
    },
    /// End a silence now: what it held goes out at the next failing result.
    Expire {
        /// The silence's id (`uptimer silence list`).
        id: i64,
    },
}

/// `uptimer maintenance …`.
#[derive(Debug, Args)]
#[command(after_help = MAINTENANCE_EXAMPLES)]
pub struct MaintenanceArgs {
    #[command(flatten)]
    pub api: ServerArgs,
    #[command(subcommand)]
    pub command: MaintenanceCommand,
}

#[derive(Debug, Subcommand)]
pub enum MaintenanceCommand {
    /// Open a one-off maintenance window: notifications about the targets it covers are held
    /// back while it lasts.
    #[command(after_help = MAINTENANCE_EXAMPLES)]
    Add {
        /// target=ID-OR-NAME (`*` wildcards) or tag=TAG; repeat it: a target is covered when
        /// it matches all. Without one the window covers every target.
        #[arg(long = "match", value_name = "FIELD=VALUE")]
        matchers: Vec<String>,
        #[command(flatten)]
        span: Span,
    },
    /// List the configured windows (schedule, time zone, mode, whether under way) and the
    /// one-off windows under way or to come (--all: also those over).
    List {
        /// Also the one-off windows that are over.
        #[arg(long)]
        all: bool,
    },
    /// End a one-off window now.
    End {
        /// The window's id (`uptimer maintenance list`).
        id: i64,
    },
}

/// When a silence or window lasts, why, and who says so.
#[derive(Debug, Args)]
pub struct Span {
    /// How long: 90s, 30m, 2h, 1h30m, 1d …
    #[arg(
        long = "for",
        value_name = "DURATION",
        required_unless_present = "until",
        conflicts_with = "until"
    )]
    pub for_: Option<String>,
    /// Until when, in RFC 3339 (2026-12-06T06:00:00Z, or with an offset: …T07:00:00+01:00).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// From when, in RFC 3339 [default: now].
    #[arg(long, value_name = "TIME")]
    pub starts: Option<String>,
    /// Why: shown with whatever it holds back, for whoever wonders where the alerts went.
    #[arg(long, required = true)]
    pub reason: String,
    /// Who [default: the WEB_AUTH_BASIC user, if any].
    #[arg(long, value_name = "NAME")]
    pub by: Option<String>,
}

/// Which of the two a command is about: its API path and words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum What {
    Silence,
    Maintenance,
}

impl What {
    const fn path(self) -> &'static str {
        match self {
            What::Silence => "silences",
            What::Maintenance => "maintenance",
        }
    }

    const fn noun(self) -> &'static str {
        match self {
            What::Silence => "silence",
            What::Maintenance => "maintenance window",
        }
    }
}

pub fn silence(args: SilenceArgs) -> ExitCode {
    let SilenceArgs { api, command } = args;
    finish(
        "silence",
        block_on(async {
            let client = Client::new(&api.server, auth()?)?;
            match command {
                SilenceCommand::Add { matchers, span } => {
                    add(&client, What::Silence, &matchers, &span, api.json).await
                }
                SilenceCommand::List { all } => {
                    let answer = client
                        .call("GET", &list_path("silences", all), None)
                        .await?;
                    if api.json {
                        println!("{answer}");
                    } else {
                        print!("{}", made_table(&answer["silences"], "silences", all));
                    }
                    Ok(())
                }
                SilenceCommand::Expire { id } => {
                    end(&client, What::Silence, id, "expired", api.json).await
                }
            }
        }),
    )
}

pub fn maintenance(args: MaintenanceArgs) -> ExitCode {
    let MaintenanceArgs { api, command } = args;
    finish(
        "maintenance",
        block_on(async {
            let client = Client::new(&api.server, auth()?)?;
            match command {
                MaintenanceCommand::Add { matchers, span } => {
                    add(&client, What::Maintenance, &matchers, &span, api.json).await
                }
                MaintenanceCommand::List { all } => {
                    let answer = client
                        .call("GET", &list_path("maintenance", all), None)
                        .await?;
                    if api.json {
                        println!("{answer}");
                    } else {
                        print!("{}", maintenance_text(&answer, all));
                    }
                    Ok(())
                }
                MaintenanceCommand::End { id } => {
                    end(&client, What::Maintenance, id, "ended", api.json).await
                }
            }
        }),
    )
}

fn list_path(path: &str, all: bool) -> String {
    if all {
        format!("{path}?all=true")
    } else {
        path.to_owned()
    }
}

async fn add(
    client: &Client,
    what: What,
    matchers: &[String],
    span: &Span,
    as_json: bool,
) -> Result<(), Failure> {
    let body = add_body(what, matchers, span)?;
    let made = client.call("POST", what.path(), Some(&body)).await?;
    if as_json {
        println!("{made}");
        return Ok(());
    }
    let from = match made["starts_at"].as_str() {
        Some(s) if made["active"] != true => format!(" from {}", short(s)),
        _ => String::new(),
    };
    println!(
        "{} {} added: {}{from} until {}",
        what.noun(),
        made["id"],
        covers(&made["matchers"]),
        short(made["ends_at"].as_str().unwrap_or("?"))
    );
    Ok(())
}

async fn end(
    client: &Client,
    what: What,
    id: i64,
    done: &str,
    as_json: bool,
) -> Result<(), Failure> {
    let path = format!("{}/{id}", what.path());
    let answer = client.call("DELETE", &path, None).await?;
    if as_json {
        println!("{answer}");
    } else {
        println!(
            "{done} {} {id} ({})",
            what.noun(),
            covers(&answer["matchers"])
        );
    }
    Ok(())
}

/// The request `add` sends: the flags read and checked (a mistake is bad usage, exit 2).
fn add_body(what: What, matchers: &[String], span: &Span) -> Result<Value, Failure> {
    let mut list = Vec::new();
    for m in matchers {
        let m = Matcher::parse(m).map_err(|e| Failure::Usage(format!("--match: {e}")))?;
        if what == What::Maintenance && m.field == Field::Channel {
            return Err(Failure::Usage(format!(
                "--match {m}: a maintenance window covers targets (target= or tag=); \
                 silence a channel with `uptimer silence add`"
            )));
        }
        list.push(json!(m.to_string()));
    }
    let mut body = Map::new();
    body.insert("matchers".into(), Value::Array(list));
    if let Some(d) = &span.for_ {
        crate::config::parse::seconds(d)
            .map_err(|e| Failure::Usage(format!("--for {d:?}: expected {e}")))?;
        body.insert("for".into(), json!(d.trim()));
    }
    for (flag, key, v) in [
        ("--until", "ends_at", &span.until),
        ("--starts", "starts_at", &span.starts),
    ] {
        if let Some(v) = v {
            let t = OffsetDateTime::parse(v.trim(), &Rfc3339).map_err(|_| {
                Failure::Usage(format!(
                    "{flag} {v:?}: expected a time in RFC 3339, such as 2026-12-05T22:00:00Z"
                ))
            })?;
            body.insert(key.into(), json!(t.format(&Rfc3339).unwrap_or_default()));
        }
    }
    if span.reason.trim().is_empty() {
        return Err(Failure::Usage(
            "--reason: say why, for whoever wonders where the alerts went".into(),
        ));
    }
    body.insert("reason".into(), json!(span.reason.trim()));
    if let Some(b) = &span.by {
        body.insert("by".into(), json!(b));
    }
    Ok(Value::Object(body))
}

/// An API time as people read it: `2026-12-05 22:00 UTC`.
pub(super) fn short(t: &str) -> String {
    match OffsetDateTime::parse(t, &Rfc3339) {
        Ok(t) => {
            let t = t.to_offset(time::UtcOffset::UTC);
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02} UTC",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute()
            )
        }
        Err(_) => t.to_owned(),
    }
}

/// A list of matchers in one cell: `tag=db channel=ops`, `every target` when empty.
fn covers(matchers: &Value) -> String {
    let list: Vec<&str> = matchers
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if list.is_empty() {
        "every target".into()
    } else {
        list.join(" ")
    }
}

/// Silences or one-off windows (as the API lists them) as a table, or a line saying there
/// are none.
fn made_table(items: &Value, noun: &str, all: bool) -> String {
    let items = items.as_array().map(Vec::as_slice).unwrap_or_default();
    if items.is_empty() {
        return if all {
            format!("no {noun}\n")
        } else {
            format!("no {noun} under way or to come (--all: also those over)\n")
        };
    }
    let now = OffsetDateTime::now_utc();
    let rows: Vec<[String; 7]> = items
        .iter()
        .map(|s| {
            let time = |k: &str| s[k].as_str().map(short).unwrap_or_else(|| "-".into());
            let at = |k: &str| {
                s[k].as_str()
                    .and_then(|e| OffsetDateTime::parse(e, &Rfc3339).ok())
            };
            // Expired before it began, it ends when it would have begun.
            let ended = at("ends_at").is_some_and(|e| e <= now || Some(e) <= at("starts_at"));
            let state = if s["active"] == true {
                "active"
            } else if ended {
                "ended"
            } else {
                "pending"
            };
            [
                s["id"].to_string(),
                state.into(),
                covers(&s["matchers"]),
                time("starts_at"),
                time("ends_at"),
                s["created_by"].as_str().unwrap_or("-").into(),
                s["reason"].as_str().unwrap_or_default().into(),
            ]
        })
        .collect();
    table(
        ["ID", "STATE", "MATCHERS", "FROM", "UNTIL", "BY", "REASON"],
        &rows,
    )
}

/// `maintenance list`: the configured windows, then those made through the API.
fn maintenance_text(answer: &Value, all: bool) -> String {
    let configured = answer["configured"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut out = String::from("Configured (maintenance: in the config file)\n");
    if configured.is_empty() {
        out.push_str("none\n");
    } else {
        let rows: Vec<[String; 7]> = configured.iter().map(window_row).collect();
        out.push_str(&table(
            [
                "NAME", "SCHEDULE", "DURATION", "TIMEZONE", "COVERS", "MODE", "ACTIVE",
            ],
            &rows,
        ));
    }
    out.push_str("\nOne-off (uptimer maintenance add, the API, the dashboard)\n");
    out.push_str(&made_table(
        &answer["maintenance"],
        "one-off maintenance windows",
        all,
    ));
    out
}

/// A configured window (as `GET /api/v1/maintenance` shows it) as a row.
fn window_row(w: &Value) -> [String; 7] {
    let s = &w["schedule"];
    let schedule = if let Some(once) = s["once"].as_str() {
        format!("once, {}", short(once))
    } else if let Some(cron) = s["cron"].as_str() {
        format!("cron {cron}")
    } else {
        let days: Vec<String> = s["every"]
            .as_array()
            .map(|d| {
                d.iter()
                    .filter_map(Value::as_str)
                    .map(|d| d.chars().take(3).collect())
                    .collect()
            })
            .unwrap_or_default();
        let start = s["start"].as_str().unwrap_or("?");
        if days.is_empty() {
            format!("daily {start}")
        } else {
            format!("{} {start}", days.join(","))
        }
    };
    let mut scope: Vec<String> = Vec::new();
    for (key, field) in [("targets", "target"), ("tags", "tag")] {
        for v in w[key].as_array().into_iter().flatten() {
            scope.push(format!("{field}={}", v.as_str().unwrap_or_default()));
        }
    }
    [
        w["name"].as_str().unwrap_or_default().into(),
        schedule,
        seconds_text(w["duration_s"].as_u64().unwrap_or(0)),
        w["timezone"].as_str().unwrap_or("UTC").into(),
        if scope.is_empty() {
            "every target".into()
        } else {
            // A window covers a target that matches any of these.
            scope.join(" or ")
        },
        w["mode"].as_str().unwrap_or_default().into(),
        match w["active_until"].as_str() {
            Some(until) => format!("until {}", short(until)),
            None => "no".into(),
        },
    ]
}

/// `1h30m`, `45m`, `2d`.
fn seconds_text(s: u64) -> String {
    let parts = [
        (s / 86_400, "d"),
        (s % 86_400 / 3600, "h"),
        (s % 3600 / 60, "m"),
        (s % 60, "s"),
    ];
    let out: String = parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect();
    if out.is_empty() { "0s".into() } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(for_: Option<&str>, until: Option<&str>) -> Span {
        Span {
            for_: for_.map(Into::into),
            until: until.map(Into::into),
            starts: None,
            reason: " db upgrade ".into(),
            by: None,
        }
    }

    #[test]
    fn add_flags_become_the_apis_request() {
        let body = add_body(
            What::Silence,
            &["tag=db".into(), " channel = ops".into()],
            &span(Some("2h"), None),
        )
        .unwrap();
        assert_eq!(
            body,
            json!({"matchers": ["tag=db", "channel=ops"], "for": "2h", "reason": "db upgrade"})
        );
        let body = add_body(
            What::Maintenance,
            &[],
            &span(None, Some("2026-12-06T07:00:00+01:00")),
        )
        .unwrap();
        assert_eq!(body["ends_at"], "2026-12-06T07:00:00+01:00");
        assert_eq!(body["matchers"], json!([]));
    }

    #[test]
    fn bad_flags_are_bad_usage_saying_what_is_wrong() {
        for (what, matchers, span, says) in [
            (
                What::Silence,
                vec!["db"],
                span(Some("1h"), None),
                "FIELD=VALUE",
            ),
            (
                What::Silence,
                vec!["tag=db"],
                span(Some("soon"), None),
                "--for \"soon\"",
            ),
            (
                What::Silence,
                vec!["tag=db"],
                span(None, Some("tomorrow")),
                "--until \"tomorrow\": expected a time in RFC 3339",
            ),
            (
                What::Maintenance,
                vec!["channel=ops"],
                span(Some("1h"), None),
                "covers targets",
            ),
        ] {
            let matchers: Vec<String> = matchers.into_iter().map(Into::into).collect();
            match add_body(what, &matchers, &span) {
                Err(Failure::Usage(e)) => assert!(e.contains(says), "{e}"),
                other => panic!("{matchers:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn lists_read_as_tables() {
        let list = json!([{"id": 3, "active": true, "matchers": ["tag=db"],
            "starts_at": "2026-12-05T22:00:00.000Z", "ends_at": "2026-12-06T00:00:00Z",
            "created_by": null, "reason": "upgrade"}]);
        let t = made_table(&list, "silences", false);
        let mut lines = t.lines();
        assert!(
            lines
                .next()
                .unwrap()
                .starts_with("ID  STATE   MATCHERS  FROM")
        );
        assert_eq!(
            lines.next().unwrap(),
            "3   active  tag=db    2026-12-05 22:00 UTC  2026-12-06 00:00 UTC  -   upgrade"
        );
        assert!(made_table(&json!([]), "silences", false).contains("--all"));
        let w = json!({"name": "nightly", "schedule": {"every": ["Monday", "Friday"],
            "start": "02:30"}, "duration_s": 5400, "timezone": "Europe/Berlin",
            "targets": ["db-*"], "tags": ["db"], "mode": "suppress", "active": false,
            "active_until": null});
        assert_eq!(
            window_row(&w),
            [
                "nightly",
                "Mon,Fri 02:30",
                "1h30m",
                "Europe/Berlin",
                "target=db-* or tag=db",
                "suppress",
                "no"
            ]
            .map(String::from)
        );
        assert_eq!(seconds_text(2 * 86_400), "2d");
    }
}
