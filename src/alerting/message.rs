//! A notification's text: a minijinja template per channel (a default per kind of channel, or
//! the channel's `template:`) rendered over the notice. Templates get the filters `json` (a
//! JSON string literal), `html`, `markdown` and `slack` (escaped for those), and run on a fuel budget,
//! so a template cannot loop forever.

use minijinja::value::{Serde, Value};
use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use crate::config::alerting::{Channel, ChannelKind};
use crate::state::rules::Condition;
use crate::store::alerts::Notice;

/// What a template may compute before it is stopped.
const FUEL: u64 = 50_000;
/// The most text a rendered message keeps, in bytes.
pub const MAX_TEXT: usize = 16 * 1024;

/// How a default message marks and escapes.
#[derive(Clone, Copy)]
enum Style {
    Plain,
    /// `*bold*` (Slack's mrkdwn).
    SlackMarkdown,
    /// `**bold**` (Discord, Mattermost).
    Markdown,
    Html,
}

impl Style {
    fn of(kind: ChannelKind) -> Style {
        match kind {
            ChannelKind::Slack => Style::SlackMarkdown,
            ChannelKind::Discord | ChannelKind::Mattermost => Style::Markdown,
            ChannelKind::Telegram => Style::Html,
            _ => Style::Plain,
        }
    }
}

/// The default message of a channel of this style: what happened to which target, the error,
/// the description and the target's URL.
fn default_template(style: Style) -> String {
    let (b, e, f) = match style {
        Style::Plain => ("", "", ""),
        Style::SlackMarkdown => ("*", "*", "|slack"),
        Style::Markdown => ("**", "**", "|markdown"),
        Style::Html => ("<b>", "</b>", "|html"),
    };
    format!(
        "{{% if kind == \"resolve\" %}}{b}{{{{ target.name{f} }}}}{e} recovered\
         {{% if reason and reason != \"recovered\" %}} ({{{{ reason{f} }}}}){{% endif %}}.\
         {{% elif kind == \"reminder\" %}}{b}{{{{ target.name{f} }}}}{e} {{{{ problem }}}} \
         (reminder {{{{ reminder }}}}){{% if error %}}: {{{{ error{f} }}}}{{% endif %}}.\
         {{% elif kind == \"acknowledge\" %}}{b}{{{{ target.name{f} }}}}{e} is acknowledged\
         {{% if acknowledged_by %}} by {{{{ acknowledged_by{f} }}}}{{% endif %}}.\
         {{% elif kind == \"test\" %}}A test notification from uptimer to {b}{{{{ channel{f} }}}}{e}.\
         {{% elif kind == \"digest\" %}}{b}{{{{ target.name{f} }}}}{e}: {{{{ error{f} }}}}.\
         {{% else %}}{b}{{{{ target.name{f} }}}}{e} {{{{ problem }}}}\
         {{% if error %}}: {{{{ error{f} }}}}{{% endif %}}.{{% endif %}}\
         {{% if description %}} {{{{ description{f} }}}}{{% endif %}}\
         {{% if target.url %}} {{{{ target.url{f} }}}}{{% endif %}}\
         {{% if ack_url and kind in [\"trigger\", \"reminder\"] %}} Acknowledge: {{{{ ack_url{f} }}}}{{% endif %}}"
    )
}

/// The title some channels show above the text (Discord, Teams, ntfy, Gotify, Pushover,
/// the email's subject).
pub fn title(n: &Notice) -> String {
    let name = &n.target.name;
    match (n.kind.as_str(), n.condition) {
        ("resolve", _) => format!("Resolved: {name}"),
        ("test", _) => "Test notification from uptimer".to_owned(),
        ("digest", _) => name.clone(),
        ("acknowledge", _) => format!("Acknowledged: {name}"),
        ("reminder", Condition::Down) => format!("Still down: {name}"),
        ("reminder", Condition::Degraded) => format!("Still degraded: {name}"),
        ("reminder", Condition::Certificate) => format!("Certificate still expiring: {name}"),
        (_, Condition::Down) => format!("Down: {name}"),
        (_, Condition::Degraded) => format!("Degraded: {name}"),
        (_, Condition::Certificate) => format!("Certificate expiring: {name}"),
    }
}

/// What is wrong, after the target's name in a default message: `is down`, `is still
/// degraded`, `needs a new TLS certificate`.
fn problem(n: &Notice) -> &'static str {
    let reminder = n.kind == "reminder";
    match (n.condition, reminder) {
        (Condition::Down, false) => "is down",
        (Condition::Down, true) => "is still down",
        (Condition::Degraded, false) => "is degraded",
        (Condition::Degraded, true) => "is still degraded",
        (Condition::Certificate, false) => "needs a new TLS certificate",
        (Condition::Certificate, true) => "still needs a new TLS certificate",
    }
}

/// Slack's mrkdwn: `&`, `<` and `>` as entities (its only escapes), so that text cannot make
/// a link or a mention.
fn escape_slack(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// CommonMark's backslash escapes (Discord, Mattermost).
fn escape_markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(
            c,
            '\\' | '`'
                | '*'
                | '_'
                | '{'
                | '}'
                | '['
                | ']'
                | '('
                | ')'
                | '#'
                | '+'
                | '-'
                | '.'
                | '!'
                | '|'
                | '~'
                | '>'
                | '<'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_fuel(Some(FUEL));
    env.set_undefined_behavior(UndefinedBehavior::Lenient);
    env.add_filter("json", |v: Value| {
        let text = match v.as_str() {
            Some(s) => s.to_owned(),
            None if v.is_undefined() || v.is_none() => String::new(),
            None => v.to_string(),
        };
        serde_json::to_string(&text).unwrap_or_default()
    });
    env.add_filter("html", |s: String| crate::html::escape(&s));
    env.add_filter("markdown", |s: String| escape_markdown(&s));
    env.add_filter("slack", |s: String| escape_slack(&s));
    env
}

/// What templates see: the notice's fields, and `channel` and `title`.
#[derive(Serialize)]
struct Context<'a> {
    #[serde(flatten)]
    notice: &'a Notice,
    channel: &'a str,
    title: String,
    problem: &'static str,
}

/// Renders `template` over the notice.
pub fn render_with(template: &str, n: &Notice, channel: &str) -> Result<String, String> {
    let env = environment();
    let t = env.template_from_str(template).map_err(|e| e.to_string())?;
    let ctx = Context {
        notice: n,
        channel,
        title: title(n),
        problem: problem(n),
    };
    let mut text = t
        .render(Value::from(Serde(&ctx)))
        .map_err(|e| format!("the template failed: {e}"))?;
    if text.len() > MAX_TEXT {
        text.truncate(text.floor_char_boundary(MAX_TEXT));
    }
    Ok(text.trim().to_owned())
}

/// The message text of a notice to `channel`: its `template:`, else the default for its
/// kind. A user's template that fails falls back to the default (and says why in the log):
/// the notification still goes out.
pub fn text(channel: &Channel, n: &Notice) -> String {
    let default = || default_template(Style::of(channel.kind));
    if let Some(t) = &channel.template {
        match render_with(t, n, &channel.name) {
            Ok(s) => return s,
            Err(e) => tracing::warn!(
                channel = channel.name,
                "alert template: {e}; the default message is sent"
            ),
        }
    }
    render_with(&default(), n, &channel.name).unwrap_or_else(|_| title(n))
}

/// The HTML part of an email: the default message marked up (the target's name in bold, the
/// acknowledgement link clickable), or a user's template's text escaped, in a minimal page.
pub fn html(channel: &Channel, n: &Notice) -> String {
    let body = match &channel.template {
        Some(_) => crate::html::escape(&text(channel, n)).replace('\n', "<br>\n"),
        None => render_with(&default_template(Style::Html), n, &channel.name)
            .unwrap_or_else(|_| crate::html::escape(&title(n))),
    };
    let ack = match (&n.ack_url, n.kind.as_str()) {
        (Some(url), "trigger" | "reminder") if channel.template.is_none() => format!(
            "\n<p><a href=\"{}\">Acknowledge this incident</a></p>",
            crate::html::escape(url)
        ),
        _ => String::new(),
    };
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title></head>\n\
         <body><p>{body}</p>{ack}</body></html>\n",
        crate::html::escape(&title(n))
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::alerts::NoticeTarget;

    pub(crate) fn notice(kind: &str) -> Notice {
        Notice {
            kind: kind.into(),
            reminder: if kind == "reminder" { 2 } else { 0 },
            key: "uptimer-7-abc".into(),
            rule: "ops".into(),
            target: NoticeTarget {
                id: "api".into(),
                name: "API <prod> *main*".into(),
                url: "https://api.example.com/health".into(),
                tags: vec!["prod".into()],
            },
            incident: Some(7),
            severity: Default::default(),
            condition: Default::default(),
            description: None,
            time: time::macros::datetime!(2026-12-02 10:00 UTC),
            down_since: None,
            reason: (kind == "resolve").then(|| "recovered".into()),
            acknowledged_by: None,
            ack_url: None,
            error: (kind != "resolve").then(|| "connection refused".into()),
            error_kind: None,
            status_code: None,
            response_time_ms: None,
        }
    }

    #[test]
    fn defaults_say_what_happened_and_escape_for_the_channel() {
        let n = notice("trigger");
        assert_eq!(
            render_with(&default_template(Style::Plain), &n, "ops").unwrap(),
            "API <prod> *main* is down: connection refused. https://api.example.com/health"
        );
        assert_eq!(
            render_with(&default_template(Style::Html), &n, "ops").unwrap(),
            "<b>API &lt;prod&gt; *main*</b> is down: connection refused. https://api.example.com/health"
        );
        let md = render_with(&default_template(Style::Markdown), &n, "ops").unwrap();
        assert!(md.starts_with("**API \\<prod\\> \\*main\\***"), "{md}");
        let resolved = render_with(&default_template(Style::Plain), &notice("resolve"), "ops");
        assert_eq!(
            resolved.unwrap(),
            "API <prod> *main* recovered. https://api.example.com/health"
        );
        let reminder = render_with(&default_template(Style::Plain), &notice("reminder"), "ops");
        assert!(reminder.unwrap().contains("still down (reminder 2)"));
        let cert = Notice {
            condition: Condition::Certificate,
            error: Some("the TLS certificate expires at 2026-12-12T00:00:00Z (in 10 days)".into()),
            ..notice("trigger")
        };
        assert_eq!(title(&cert), "Certificate expiring: API <prod> *main*");
        assert!(
            render_with(&default_template(Style::Plain), &cert, "ops")
                .unwrap()
                .starts_with("API <prod> *main* needs a new TLS certificate: the TLS certificate expires at 2026-12-12T00:00:00Z (in 10 days).")
        );
        let degraded = Notice {
            condition: Condition::Degraded,
            error: Some("degraded".into()),
            kind: "reminder".into(),
            ..notice("reminder")
        };
        assert_eq!(title(&degraded), "Still degraded: API <prod> *main*");
    }

    #[test]
    fn user_templates_get_the_filters_and_cannot_run_forever() {
        let n = notice("trigger");
        let t = r#"{"name": {{ target.name|json }}, "kind": {{ kind|json }}}"#;
        let v: serde_json::Value = serde_json::from_str(&render_with(t, &n, "x").unwrap()).unwrap();
        assert_eq!(v["name"], "API <prod> *main*");
        let endless =
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}";
        assert!(render_with(endless, &n, "x").is_err());
    }
}
