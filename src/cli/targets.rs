//! `uptimer targets list|add|rm|pause|resume`: the live targets of a running `uptimer serve`,
//! through its JSON API; and `uptimer incident ack ID`, its incidents. The server is
//! `--server` (or `UPTIMER_SERVER`, default `http://127.0.0.1:8080`); the client, the
//! credentials and the exit status are `super::api_client`'s.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::api_client::{Client, Failure, ServerArgs, auth, block_on, finish};

/// Targets asked for per page by `list` (the API's maximum).
const PER_PAGE: u32 = 1000;

#[derive(Debug, Args)]
pub struct TargetsArgs {
    #[command(flatten)]
    pub api: ServerArgs,
    #[command(subcommand)]
    pub command: TargetsCommand,
}

#[derive(Debug, Subcommand)]
pub enum TargetsCommand {
    /// List the targets: id, name, URL, source (file, env, api) and whether paused.
    List {
        /// Only paused targets (true) or only running ones (false).
        #[arg(long, value_name = "BOOL")]
        paused: Option<bool>,
        /// Only targets with this tag.
        #[arg(long)]
        tag: Option<String>,
    },
    /// Add a target: from flags, or a whole target object (YAML or JSON, as in the config
    /// file) with --file.
    Add(AddArgs),
    /// Remove a target the API made (its history stays, marked removed).
    Rm {
        /// The target's id.
        id: String,
    },
    /// Pause a target (of any source): it is not probed until resumed.
    Pause {
        /// The target's id.
        id: String,
    },
    /// Resume a paused target.
    Resume {
        /// The target's id.
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// The URL to check (http://, https://, tcp://, …).
    #[arg(long, required_unless_present = "file", conflicts_with = "file")]
    pub url: Option<String>,
    /// A name to show [default: the URL].
    #[arg(long, conflicts_with = "file")]
    pub name: Option<String>,
    /// The target's id [default: one the server picks].
    #[arg(long, conflicts_with = "file")]
    pub id: Option<String>,
    /// Seconds between checks, or a duration such as 30s or 5m [default: the server's].
    #[arg(long, conflicts_with = "file")]
    pub interval: Option<String>,
    /// A check's time limit, as --interval [default: the server's].
    #[arg(long, conflicts_with = "file")]
    pub timeout: Option<String>,
    /// A tag (repeat for several).
    #[arg(long = "tag", value_name = "TAG", conflicts_with = "file")]
    pub tags: Vec<String>,
    /// A YAML or JSON file holding one target object, as in the config file's `targets:`.
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
}

pub fn targets(args: TargetsArgs) -> ExitCode {
    finish("targets", block_on(run(args)))
}

#[derive(Debug, Args)]
pub struct IncidentArgs {
    #[command(flatten)]
    pub api: ServerArgs,
    #[command(subcommand)]
    pub command: IncidentCommand,
}

#[derive(Debug, Subcommand)]
pub enum IncidentCommand {
    /// Acknowledge an open incident: its reminders stop until it resolves, and PagerDuty and
    /// Opsgenie are told.
    Ack {
        /// The incident's id (the incidents page, /api/v1/incidents).
        id: i64,
        /// Who acknowledges (default: the WEB_AUTH_BASIC user, if any).
        #[arg(long)]
        by: Option<String>,
    },
}

pub fn incident(args: IncidentArgs) -> ExitCode {
    finish(
        "incident",
        block_on(async {
            let client = Client::new(&args.api.server, auth()?)?;
            let IncidentCommand::Ack { id, by } = args.command;
            let body = match by {
                Some(b) => json!({ "by": b }),
                None => json!({}),
            };
            let answer = client
                .call("POST", &format!("incidents/{id}/ack"), Some(&body))
                .await?;
            if args.api.json {
                println!("{answer}");
            } else if answer["already"] == true {
                println!(
                    "incident {id} was acknowledged already, at {}",
                    answer["acknowledged_at"].as_str().unwrap_or("?")
                );
            } else {
                println!("acknowledged incident {id}");
            }
            Ok(())
        }),
    )
}

async fn run(args: TargetsArgs) -> Result<(), Failure> {
    let client = Client::new(&args.api.server, auth()?)?;
    let json_out = args.api.json;
    match args.command {
        TargetsCommand::List { paused, tag } => {
            let mut all = Vec::new();
            for page in 1.. {
                let mut query = format!("per_page={PER_PAGE}&page={page}");
                if let Some(p) = paused {
                    query.push_str(&format!("&paused={p}"));
                }
                if let Some(t) = &tag {
                    query.push_str("&tag=");
                    query.extend(percent_encoding::utf8_percent_encode(
                        t,
                        percent_encoding::NON_ALPHANUMERIC,
                    ));
                }
                let answer = client
                    .call("GET", &format!("targets?{query}"), None)
                    .await?;
                let batch = answer["targets"].as_array().cloned().unwrap_or_default();
                let done = batch.len() < PER_PAGE as usize;
                all.extend(batch);
                if done {
                    break;
                }
            }
            if json_out {
                println!("{}", Value::Array(all));
            } else {
                print!("{}", table(&all));
            }
        }
        TargetsCommand::Add(add) => {
            let body = add_body(&add)?;
            let made = client.call("POST", "targets", Some(&body)).await?;
            print_target(&made, json_out, "added");
        }
        TargetsCommand::Rm { id } => {
            client.call("DELETE", &target_path(&id), None).await?;
            if json_out {
                println!("{}", json!({ "id": id, "removed": true }));
            } else {
                println!("removed target {id}");
            }
        }
        TargetsCommand::Pause { id } => set_paused(&client, &id, true, json_out).await?,
        TargetsCommand::Resume { id } => set_paused(&client, &id, false, json_out).await?,
    }
    Ok(())
}

async fn set_paused(client: &Client, id: &str, pause: bool, as_json: bool) -> Result<(), Failure> {
    let (verb, done) = if pause {
        ("pause", "paused")
    } else {
        ("resume", "resumed")
    };
    // An empty object: the API asks every POST to declare JSON.
    let path = format!("{}/{verb}", target_path(id));
    let t = client.call("POST", &path, Some(&json!({}))).await?;
    print_target(&t, as_json, done);
    Ok(())
}

fn target_path(id: &str) -> String {
    format!(
        "targets/{}",
        percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC)
    )
}

/// The target object `add` sends.
fn add_body(add: &AddArgs) -> Result<Value, Failure> {
    if let Some(path) = &add.file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::Usage(format!("--file {}: {e}", path.display())))?;
        // YAML is a superset of JSON: one parser reads both.
        let body: Value = serde_yaml_ng::from_str(&text).map_err(|e| {
            Failure::Usage(format!(
                "--file {}: expected a YAML or JSON target object ({e})",
                path.display()
            ))
        })?;
        if !body.is_object() {
            return Err(Failure::Usage(format!(
                "--file {}: expected one target object (url: …, name: …), as an item of the \
                 config file's targets:",
                path.display()
            )));
        }
        return Ok(body);
    }
    let mut body = serde_json::Map::new();
    let mut put = |key: &str, v: Value| {
        body.insert(key.to_owned(), v);
    };
    if let Some(u) = &add.url {
        put("url", json!(u));
    }
    if let Some(n) = &add.name {
        put("name", json!(n));
    }
    if let Some(i) = &add.id {
        put("id", json!(i));
    }
    for (key, v) in [("interval", &add.interval), ("timeout", &add.timeout)] {
        if let Some(v) = v {
            put(key, duration(v));
        }
    }
    if !add.tags.is_empty() {
        put("tags", json!(add.tags));
    }
    Ok(Value::Object(body))
}

/// A duration as the config file takes it: a number of seconds as a number, else the text
/// (`30s`, `5m`) for the server to read.
fn duration(v: &str) -> Value {
    let v = v.trim();
    if let Ok(n) = v.parse::<i64>() {
        return json!(n);
    }
    match v.parse::<f64>() {
        Ok(n) if n.is_finite() => json!(n),
        _ => json!(v),
    }
}

fn print_target(t: &Value, as_json: bool, what: &str) {
    if as_json {
        println!("{t}");
    } else {
        println!(
            "{what} target {} ({}, {})",
            t["id"].as_str().unwrap_or_default(),
            t["name"].as_str().unwrap_or_default(),
            t["url"].as_str().unwrap_or_default()
        );
    }
}

/// The list as a table: id, name, URL, source, paused.
fn table(targets: &[Value]) -> String {
    let rows: Vec<[String; 5]> = targets
        .iter()
        .map(|t| {
            let text = |k: &str| t[k].as_str().unwrap_or("-").to_owned();
            [
                text("id"),
                text("name"),
                text("url"),
                text("source"),
                if t["paused"] == json!(true) {
                    "yes".into()
                } else {
                    "no".into()
                },
            ]
        })
        .collect();
    super::api_client::table(["ID", "NAME", "URL", "SOURCE", "PAUSED"], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_flags_make_a_target_object() {
        let add = AddArgs {
            url: Some("http://127.0.0.1:1/".into()),
            name: Some("n".into()),
            id: None,
            interval: Some(" 30".into()),
            timeout: Some("5s".into()),
            tags: vec!["a".into(), "b".into()],
            file: None,
        };
        assert_eq!(
            add_body(&add).unwrap(),
            json!({"url": "http://127.0.0.1:1/", "name": "n", "interval": 30,
                   "timeout": "5s", "tags": ["a", "b"]})
        );
    }

    #[test]
    fn durations_go_as_numbers_when_they_are_and_as_text_otherwise() {
        assert_eq!(duration("30"), json!(30));
        assert_eq!(duration("0.5"), json!(0.5));
        assert_eq!(duration("5m"), json!("5m"));
        assert_eq!(duration("NaN"), json!("NaN"));
    }

    #[test]
    fn the_table_lines_up_its_columns() {
        let t = table(&[json!({"id": "a", "name": "long name", "url": "http://x/",
                               "source": "api", "paused": true})]);
        assert_eq!(
            t,
            "ID  NAME       URL        SOURCE  PAUSED\na   long name  http://x/  api     yes\n"
        );
    }
}
