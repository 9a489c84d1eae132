//! `/api`: the API for people. The header's "API" link lands here rather than on raw JSON: every
//! route with what it answers and its parameters, read from the embedded OpenAPI document (so
//! the page cannot drift from it), with links to try the routes and to the document itself.

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use super::pages::{Frame, render};
use super::{AppError, AppState, OPENAPI};
use crate::store::now_micros;

struct Param {
    name: String,
    place: String,
    kind: String,
    required: bool,
    description: String,
}

struct Route {
    method: String,
    path: String,
    /// A link to try it, for GET routes without path parameters.
    href: Option<String>,
    summary: String,
    params: Vec<Param>,
}

#[derive(Template)]
#[template(path = "api.html")]
struct ApiPage {
    frame: Frame,
    description: Vec<(bool, String)>,
    routes: Vec<Route>,
}

fn text(v: &serde_json::Value, key: &str) -> String {
    v.get(key)
        .and_then(|s| s.as_str())
        .unwrap_or_default()
        .to_owned()
}

/// A parameter's type as a reader wants it: `integer (1–1000, default 100)`, `date-time`.
fn kind(schema: &serde_json::Value) -> String {
    let mut k = schema
        .get("format")
        .or_else(|| schema.get("type"))
        .map(|t| match t {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .unwrap_or_default();
    if let Some(values) = schema.get("enum").and_then(|e| e.as_array()) {
        let values: Vec<_> = values.iter().filter_map(|v| v.as_str()).collect();
        k = format!("one of {}", values.join(", "));
    }
    let mut extra = Vec::new();
    if let (Some(lo), Some(hi)) = (schema.get("minimum"), schema.get("maximum")) {
        extra.push(format!("{lo}–{hi}"));
    }
    if let Some(d) = schema.get("default") {
        extra.push(format!("default {d}"));
    }
    if extra.is_empty() {
        k
    } else {
        format!("{k} ({})", extra.join(", "))
    }
}

/// The schema itself, or the one its `$ref` points to in the same document.
fn resolve<'a>(doc: &'a serde_json::Value, schema: &'a serde_json::Value) -> &'a serde_json::Value {
    schema
        .get("$ref")
        .and_then(|r| r.as_str())
        .and_then(|r| r.strip_prefix('#'))
        .and_then(|ptr| doc.pointer(ptr))
        .unwrap_or(schema)
}

/// Text with `code` spans, as (is code, text) runs for the template to mark up.
fn spans(text: &str) -> Vec<(bool, String)> {
    text.split('`')
        .enumerate()
        .filter(|(_, t)| !t.is_empty())
        .map(|(i, t)| (i % 2 == 1, t.to_owned()))
        .collect()
}

fn routes(doc: &serde_json::Value) -> Vec<Route> {
    let Some(paths) = doc.get("paths").and_then(|p| p.as_object()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (path, ops) in paths {
        let Some(ops) = ops.as_object() else { continue };
        for (method, op) in ops {
            let params = op
                .get("parameters")
                .and_then(|p| p.as_array())
                .map(|ps| {
                    ps.iter()
                        .map(|p| Param {
                            name: text(p, "name"),
                            place: text(p, "in"),
                            kind: p
                                .get("schema")
                                .map(|s| kind(resolve(doc, s)))
                                .unwrap_or_default(),
                            required: p.get("required").and_then(|r| r.as_bool()) == Some(true),
                            description: text(p, "description"),
                        })
                        .collect()
                })
                .unwrap_or_default();
            out.push(Route {
                method: method.to_uppercase(),
                path: path.clone(),
                href: (method == "get" && !path.contains('{')).then(|| path.clone()),
                summary: text(op, "summary"),
                params,
            });
        }
    }
    out
}

pub async fn page(State(s): State<AppState>) -> Result<Response, AppError> {
    let doc: serde_json::Value = serde_json::from_str(OPENAPI).unwrap_or_default();
    let tpl = ApiPage {
        // Nothing on it changes.
        frame: Frame {
            refresh: 0,
            ..Frame::new(&s, "api", now_micros())
        },
        description: spans(
            &doc.get("info")
                .map(|i| text(i, "description"))
                .unwrap_or_default(),
        ),
        routes: routes(&doc),
    };
    render(&tpl)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_route_and_parameter_is_listed() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
        let routes = routes(&doc);
        assert!(routes.len() >= 7, "{}", routes.len());
        let events = routes
            .iter()
            .find(|r| r.path == "/api/v1/targets/{id}/events")
            .unwrap();
        assert_eq!(events.method, "GET");
        assert!(events.href.is_none(), "no link with a placeholder in it");
        let limit = events.params.iter().find(|p| p.name == "limit").unwrap();
        assert_eq!(limit.kind, "integer (1–1000, default 100)");
        assert!(!limit.required);
        assert!(events.params.iter().any(|p| p.name == "id" && p.required));
        let list = routes.iter().find(|r| r.path == "/api/v1/targets").unwrap();
        assert_eq!(list.href.as_deref(), Some("/api/v1/targets"));
        // A write is not a link: a link would GET it.
        let create = routes
            .iter()
            .find(|r| r.path == "/api/v1/targets" && r.method == "POST")
            .unwrap();
        assert!(create.href.is_none());
        // A parameter whose schema is a reference shows the referenced values.
        let status = list.params.iter().find(|p| p.name == "status").unwrap();
        assert_eq!(
            status.kind,
            "one of up, down, degraded, flapping, unknown, paused"
        );
    }

    #[test]
    fn backticks_mark_code() {
        assert_eq!(
            spans("API of `uptimer serve`: read-only"),
            vec![
                (false, "API of ".to_owned()),
                (true, "uptimer serve".to_owned()),
                (false, ": read-only".to_owned())
            ]
        );
    }
}
