//! `uptimer status incident open|update|resolve|list`: the incidents people write on the
//! status pages of a running `uptimer serve`, through its API (`/api/v1/status-incidents`;
//! docs/status-pages.md, "Incidents people write"). Flags are read here, so a typo is bad
//! usage (exit 2) before anything is sent; what only the server can judge (a page or
//! component it does not have, an incident resolved already) is its refusal (exit 1, its
//! message on stderr).

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

use super::api_client::{Client, Failure, ServerArgs, auth, block_on, finish, table};
use super::silence::short;
use crate::web::status::model::ComponentStatus;

const EXAMPLES: &str = "\
Examples:
  uptimer status incident open --page main --title 'Elevated API errors' --impact major \\
      --component 'API=major_outage' --body 'We are looking into errors on the API.'
  uptimer status incident update 3 --status identified --body 'A bad deploy; rolling back.'
  uptimer status incident update 3 --status monitoring --component 'API=operational' \\
      --body-file notes.md
  uptimer status incident resolve 3
  uptimer status incident list --page main

Bodies are Markdown; the status page shows them rendered. Components are named as the page
names them (status_pages: in the config file). A resolved incident takes no more updates.";

const STATUSES: [&str; 4] = ["investigating", "identified", "monitoring", "resolved"];
const IMPACTS: [&str; 4] = ["none", "minor", "major", "critical"];

/// `uptimer status …`.
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct StatusArgs {
    #[command(flatten)]
    pub api: ServerArgs,
    #[command(subcommand)]
    pub command: StatusCommand,
}

#[derive(Debug, Subcommand)]
pub enum StatusCommand {
    /// The incidents people write on status pages: open, update, resolve, list.
    #[command(after_help = EXAMPLES)]
    Incident {
        #[command(subcommand)]
        command: IncidentCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum IncidentCommand {
    /// Open an incident on a status page, with its first update.
    #[command(after_help = EXAMPLES)]
    Open {
        /// The status page's slug (as in /status/SLUG).
        #[arg(long, value_name = "SLUG")]
        page: String,
        /// What the page shows as the incident's name (at most 200 characters).
        #[arg(long)]
        title: String,
        /// How bad it is.
        #[arg(long, value_parser = IMPACTS, default_value = "minor")]
        impact: String,
        /// The first update's status.
        #[arg(long, value_parser = STATUSES, default_value = "investigating")]
        status: String,
        #[command(flatten)]
        components: Components,
        #[command(flatten)]
        text: Text,
    },
    /// Post an update to an open incident; --impact and --component, when given, replace the
    /// incident's.
    #[command(after_help = EXAMPLES)]
    Update {
        /// The incident's id (`uptimer status incident list`).
        id: i64,
        /// Where it stands now (resolved closes it: `uptimer status incident resolve`).
        #[arg(long, value_parser = STATUSES)]
        status: String,
        /// How bad it is now [default: unchanged].
        #[arg(long, value_parser = IMPACTS)]
        impact: Option<String>,
        #[command(flatten)]
        components: Components,
        #[command(flatten)]
        text: Text,
    },
    /// Resolve an incident: post its last update, status resolved. It takes no more updates.
    Resolve {
        /// The incident's id (`uptimer status incident list`).
        id: i64,
        /// The last update, in Markdown.
        #[arg(long, default_value = "This incident has been resolved.")]
        body: String,
        /// Who writes it [default: the WEB_AUTH_BASIC user, if any].
        #[arg(long, value_name = "NAME")]
        author: Option<String>,
    },
    /// List a status page's incidents, newest first.
    List {
        /// The status page's slug.
        #[arg(long, value_name = "SLUG")]
        page: String,
        /// At most this many.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=500))]
        limit: u32,
    },
}

/// The components an incident affects.
#[derive(Debug, Args)]
pub struct Components {
    /// NAME=STATUS: a component of the page, as the page names it, and the status the
    /// incident gives it (operational, degraded_performance, partial_outage, major_outage,
    /// under_maintenance). Repeat it for each component.
    #[arg(long = "component", value_name = "NAME=STATUS")]
    pub list: Vec<String>,
}

/// An update's text and author.
#[derive(Debug, Args)]
pub struct Text {
    /// The update, in Markdown (at most 20,000 characters).
    #[arg(
        long,
        required_unless_present = "body_file",
        conflicts_with = "body_file"
    )]
    pub body: Option<String>,
    /// Read the update from this file (- for stdin).
    #[arg(long, value_name = "FILE")]
    pub body_file: Option<PathBuf>,
    /// Who writes it [default: the WEB_AUTH_BASIC user, if any].
    #[arg(long, value_name = "NAME")]
    pub author: Option<String>,
}

pub fn status(args: StatusArgs) -> ExitCode {
    let StatusArgs { api, command } = args;
    let StatusCommand::Incident { command } = command;
    finish(
        "status incident",
        block_on(async {
            let client = Client::new(&api.server, auth()?)?;
            run(&client, command, api.json).await
        }),
    )
}

async fn run(client: &Client, command: IncidentCommand, as_json: bool) -> Result<(), Failure> {
    let (done, answer) = match command {
        IncidentCommand::Open {
            page,
            title,
            impact,
            status,
            components,
            text,
        } => {
            let mut body = Map::new();
            body.insert("page".into(), json!(page));
            body.insert("title".into(), json!(title));
            body.insert("impact".into(), json!(impact));
            body.insert("status".into(), json!(status));
            body.insert("components".into(), affected(&components.list)?);
            add_text(&mut body, &text)?;
            let made = client
                .call("POST", "status-incidents", Some(&Value::Object(body)))
                .await?;
            let line = format!(
                "status incident {} opened on {}: {} ({}, impact {})",
                made["id"],
                made["page"].as_str().unwrap_or("?"),
                made["title"].as_str().unwrap_or("?"),
                made["status"].as_str().unwrap_or("?"),
                made["impact"].as_str().unwrap_or("?"),
            );
            (line, made)
        }
        IncidentCommand::Update {
            id,
            status,
            impact,
            components,
            text,
        } => {
            let mut body = Map::new();
            body.insert("status".into(), json!(status));
            if let Some(i) = impact {
                body.insert("impact".into(), json!(i));
            }
            if !components.list.is_empty() {
                body.insert("components".into(), affected(&components.list)?);
            }
            add_text(&mut body, &text)?;
            let done = post(client, id, Value::Object(body)).await?;
            let line = format!(
                "status incident {id} updated: {} ({} updates)",
                done["status"].as_str().unwrap_or("?"),
                done["updates"].as_array().map_or(0, Vec::len)
            );
            (line, done)
        }
        IncidentCommand::Resolve { id, body, author } => {
            let mut request = json!({"status": "resolved", "body": body});
            if let Some(a) = author {
                request["author"] = json!(a);
            }
            let done = post(client, id, request).await?;
            let line = format!(
                "status incident {id} resolved at {}",
                done["resolved_at"]
                    .as_str()
                    .map_or_else(|| "?".into(), short)
            );
            (line, done)
        }
        IncidentCommand::List { page, limit } => {
            let query: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("page", &page)
                .append_pair("limit", &limit.to_string())
                .finish();
            let answer = client
                .call("GET", &format!("status-incidents?{query}"), None)
                .await?;
            (list_text(&answer, &page), answer)
        }
    };
    if as_json {
        println!("{answer}");
    } else {
        print!("{}", done.trim_end());
        println!();
    }
    Ok(())
}

/// Posts an update to incident `id`.
async fn post(client: &Client, id: i64, body: Value) -> Result<Value, Failure> {
    client
        .call(
            "POST",
            &format!("status-incidents/{id}/updates"),
            Some(&body),
        )
        .await
}

/// `--component NAME=STATUS` flags as the API's `components` (a mistake is bad usage).
fn affected(flags: &[String]) -> Result<Value, Failure> {
    let mut out = Vec::with_capacity(flags.len());
    for f in flags {
        // At the last `=`: a status has none, a component's name may.
        let Some((name, status)) = f.rsplit_once('=') else {
            return Err(Failure::Usage(format!(
                "--component {f:?}: expected NAME=STATUS, such as 'API=major_outage'"
            )));
        };
        let (name, status) = (name.trim(), status.trim());
        if name.is_empty() {
            return Err(Failure::Usage(format!(
                "--component {f:?}: the component's name before the ="
            )));
        }
        if ComponentStatus::parse(status).is_none() {
            let all: Vec<&str> = ComponentStatus::ALL.iter().map(|c| c.as_str()).collect();
            return Err(Failure::Usage(format!(
                "--component {f:?}: the status after the = is one of {}",
                all.join(", ")
            )));
        }
        out.push(json!({"component": name, "status": status}));
    }
    Ok(Value::Array(out))
}

/// `--body` or `--body-file`, and `--author`, into the request.
fn add_text(body: &mut Map<String, Value>, text: &Text) -> Result<(), Failure> {
    let written = match (&text.body, &text.body_file) {
        (Some(b), _) => b.clone(),
        (None, Some(path)) if path.as_os_str() == "-" => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| Failure::Usage(format!("--body-file -: cannot read stdin: {e}")))?;
            s
        }
        (None, Some(path)) => std::fs::read_to_string(path).map_err(|e| {
            Failure::Usage(format!(
                "--body-file {}: cannot read it: {e}",
                path.display()
            ))
        })?,
        (None, None) => String::new(),
    };
    if written.trim().is_empty() {
        return Err(Failure::Usage(
            "--body: say what is happening, for the people who read the page".into(),
        ));
    }
    body.insert("body".into(), json!(written));
    if let Some(a) = &text.author {
        body.insert("author".into(), json!(a));
    }
    Ok(())
}

/// A page's incidents (as the API lists them) as a table, or a line saying there are none.
fn list_text(answer: &Value, page: &str) -> String {
    let items = answer["incidents"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if items.is_empty() {
        return format!("no status incidents on page {page}\n");
    }
    let rows: Vec<[String; 7]> = items
        .iter()
        .map(|i| {
            let time = |k: &str| i[k].as_str().map_or_else(|| "-".into(), short);
            let components: Vec<String> = i["components"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    format!(
                        "{}={}",
                        c["component"].as_str().unwrap_or_default(),
                        c["status"].as_str().unwrap_or_default()
                    )
                })
                .collect();
            [
                i["id"].to_string(),
                i["status"].as_str().unwrap_or("?").into(),
                i["impact"].as_str().unwrap_or("?").into(),
                time("created_at"),
                time("resolved_at"),
                if components.is_empty() {
                    "-".into()
                } else {
                    components.join(" ")
                },
                i["title"].as_str().unwrap_or_default().into(),
            ]
        })
        .collect();
    table(
        [
            "ID",
            "STATUS",
            "IMPACT",
            "OPENED",
            "RESOLVED",
            "COMPONENTS",
            "TITLE",
        ],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_are_name_equals_status_split_at_the_last_equals_sign() {
        let v = affected(&["API=major_outage".into(), "a=b = operational".into()]).unwrap();
        assert_eq!(
            v,
            json!([{"component": "API", "status": "major_outage"},
                   {"component": "a=b", "status": "operational"}])
        );
        for bad in ["API", "=major_outage", "API=down"] {
            assert!(
                matches!(affected(&[bad.into()]), Err(Failure::Usage(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_list_is_a_table_newest_first_as_the_server_gives_it() {
        let answer = json!({"incidents": [
            {"id": 2, "status": "resolved", "impact": "major", "title": "DB slow",
             "created_at": "2026-12-10T10:00:00.000Z", "resolved_at": "2026-12-10T11:30:00.000Z",
             "components": [{"component": "DB", "status": "degraded_performance"}]},
            {"id": 1, "status": "investigating", "impact": "minor", "title": "API errors",
             "created_at": "2026-12-09T08:00:00.000Z", "resolved_at": null, "components": []},
        ]});
        let t = list_text(&answer, "main");
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("ID  STATUS"), "{t}");
        assert!(
            lines[1].contains("2026-12-10 11:30 UTC")
                && lines[1].contains("DB=degraded_performance"),
            "{t}"
        );
        assert!(
            lines[2].starts_with("1 ") && lines[2].ends_with("API errors"),
            "{t}"
        );
        assert_eq!(
            list_text(&json!({"incidents": []}), "main"),
            "no status incidents on page main\n"
        );
    }
}
