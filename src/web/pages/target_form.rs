//! The add and edit form of a target: what a user types, turned into the target object the
//! editor takes (a target as the config file writes one) and back, and the editor's field
//! errors put next to the fields they are about.
//!
//! The simple fields (name, URL, interval, timeout, tags, expected status) are merged over the
//! "advanced" text, a YAML or JSON target object for every other setting; an empty field sets
//! nothing. Secrets never reach the page: an edit form shows a URL's password and a secret
//! header's value (`Authorization`, `X-Api-Key`, …) as `***`, and a `***` sent back keeps
//! the saved value.

use serde_json::{Map, Value};

use crate::config::target::is_secret_header;
use crate::registry::edit::FieldError;

/// What a secret shows as.
const MASK: &str = "***";

/// The simple fields: form name (the target object's key), label, hint, placeholder.
pub const FIELDS: [(&str, &str, &str, &str); 6] = [
    (
        "name",
        "Name",
        "Shown on the dashboard; the URL when empty.",
        "Orders API",
    ),
    (
        "url",
        "URL",
        "What to check: http(s)://, tcp://, udp://, tls://, icmp://, grpc(s)://.",
        "https://example.org/health",
    ),
    (
        "interval",
        "Interval",
        "Time between checks, in seconds or as 30s, 5m (default: the probe default).",
        "60s",
    ),
    (
        "timeout",
        "Timeout",
        "How long one check may take (default: the probe default).",
        "10s",
    ),
    ("tags", "Tags", "Comma separated: prod, api.", "prod, api"),
    (
        "expected_status",
        "Expected status",
        "HTTP status codes that count as up, comma separated: 200, 2xx, 200-299 (default 2xx and 3xx).",
        "2xx",
    ),
];

/// What the form sent, as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormInput {
    /// The simple fields, in the order of [`FIELDS`].
    pub values: [String; 6],
    pub advanced: String,
    /// The anti-forgery token (see `web::csrf`).
    pub csrf: String,
}

impl FormInput {
    /// An `application/x-www-form-urlencoded` body; unknown names are ignored.
    pub fn parse(body: &[u8]) -> FormInput {
        let mut input = FormInput::default();
        for (k, v) in url::form_urlencoded::parse(body) {
            match k.as_ref() {
                "advanced" => input.advanced = v.into_owned(),
                "csrf" => input.csrf = v.into_owned(),
                k => {
                    if let Some(i) = FIELDS.iter().position(|f| f.0 == k) {
                        input.values[i] = v.into_owned();
                    }
                }
            }
        }
        input
    }

    fn value(&self, key: &str) -> &str {
        FIELDS
            .iter()
            .position(|f| f.0 == key)
            .map_or("", |i| self.values[i].trim())
    }

    /// The form of a saved target object (`Editor::body`): the simple settings in their
    /// fields, the rest as YAML, the secrets masked; the id is in the page's address.
    pub fn of_body(body: &Value) -> FormInput {
        let mut rest = body.as_object().cloned().unwrap_or_default();
        rest.remove("id");
        let mut input = FormInput::default();
        for (i, (key, ..)) in FIELDS.iter().enumerate() {
            let shown = match rest.get(*key) {
                Some(Value::String(s)) if *key == "url" => Some(mask_url(s)),
                Some(Value::String(s)) => Some(s.clone()),
                Some(v @ (Value::Number(_) | Value::Bool(_))) => Some(v.to_string()),
                // A list goes in its field when no item holds a comma.
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|v| match v {
                        Value::String(s) if !s.contains(',') => Some(s.clone()),
                        Value::Number(n) => Some(n.to_string()),
                        _ => None,
                    })
                    .collect::<Option<Vec<_>>>()
                    .map(|v| v.join(", ")),
                _ => None,
            };
            if let Some(shown) = shown {
                input.values[i] = shown;
                rest.remove(*key);
            }
        }
        if let Some(Value::Object(headers)) = rest.get_mut("headers") {
            for (name, v) in headers.iter_mut() {
                if is_secret_header(name) {
                    *v = Value::String(MASK.into());
                }
            }
        }
        if !rest.is_empty() {
            input.advanced = serde_yaml_ng::to_string(&Value::Object(rest)).unwrap_or_default();
        }
        input
    }

    /// The target object the form describes: the advanced object with the filled-in fields
    /// over it. `saved` is the object being edited, whose secrets a `***` keeps. Errors name
    /// the form's fields.
    pub fn to_body(&self, saved: Option<&Value>) -> Result<Value, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut body = match self.advanced.trim() {
            "" => Map::new(),
            text => match serde_yaml_ng::from_str::<Value>(text) {
                Ok(Value::Object(o)) => o,
                Ok(Value::Null) => Map::new(),
                Ok(_) => {
                    errors.push(error(
                        "advanced",
                        "expected a target object: settings as `key: value` lines (YAML) or {…} (JSON)",
                    ));
                    Map::new()
                }
                Err(e) => {
                    errors.push(error(
                        "advanced",
                        format!("not YAML or JSON: {}", one_line(&e.to_string())),
                    ));
                    Map::new()
                }
            },
        };
        for key in ["name", "url", "interval", "timeout"] {
            let v = self.value(key);
            if !v.is_empty() {
                body.insert(key.into(), Value::String(v.to_owned()));
            }
        }
        fn list(s: &str) -> Vec<&str> {
            s.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .collect()
        }
        let tags = list(self.value("tags"));
        if !tags.is_empty() {
            body.insert("tags".into(), tags.into_iter().map(Value::from).collect());
        }
        let codes = list(self.value("expected_status"));
        if !codes.is_empty() {
            let codes = codes.into_iter().map(|c| match c.parse::<u16>() {
                Ok(n) => Value::from(n),
                Err(_) => Value::from(c),
            });
            body.insert("expected_status".into(), codes.collect());
        }
        match body.get("url") {
            Some(Value::String(u)) if !u.trim().is_empty() => {}
            Some(Value::String(_)) | None => errors.push(error(
                "url",
                "required: the address to check, such as https://example.org/health",
            )),
            Some(_) => {}
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        if let Some(saved) = saved {
            keep_secrets(&mut body, saved);
        }
        Ok(Value::Object(body))
    }
}

fn error(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The form field an editor's error is about: a simple field's own, else `advanced` (the
/// setting is one typed there), or `""` for the whole form.
pub fn field_of(setting: &str, advanced_given: bool) -> &'static str {
    let head = setting.split(['.', '[']).next().unwrap_or_default().trim();
    match FIELDS.iter().find(|f| f.0 == head) {
        Some(f) => f.0,
        None if advanced_given => "advanced",
        None if head.is_empty() => "",
        None => "advanced",
    }
}

/// Where in a URL as written its password is: the byte range, when it has one.
fn password_range(url: &str) -> Option<std::ops::Range<usize>> {
    let start = url.find("://")? + 3;
    let authority_end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    let at = start + url[start..authority_end].rfind('@')?;
    let colon = start + url[start..at].find(':')?;
    Some(colon + 1..at)
}

/// `url` with its password shown as `***` (nothing else of it changes).
pub fn mask_url(url: &str) -> String {
    match password_range(url) {
        Some(r) => format!("{}{MASK}{}", &url[..r.start], &url[r.end..]),
        None => url.to_owned(),
    }
}

/// Puts back what the edit form showed masked: the URL's password and secret headers' values
/// that came back as `***`.
fn keep_secrets(body: &mut Map<String, Value>, saved: &Value) {
    if let (Some(Value::String(url)), Some(old)) = (
        body.get_mut("url"),
        saved.get("url").and_then(Value::as_str),
    ) && let (Some(r), Some(old_r)) = (password_range(url), password_range(old))
        && &url[r.clone()] == MASK
    {
        url.replace_range(r, &old[old_r]);
    }
    let old_headers = saved.get("headers").and_then(Value::as_object);
    if let (Some(Value::Object(headers)), Some(old_headers)) =
        (body.get_mut("headers"), old_headers)
    {
        for (name, v) in headers.iter_mut() {
            if v.as_str() != Some(MASK) || !is_secret_header(name) {
                continue;
            }
            if let Some(old) = old_headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
            {
                *v = old;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn input(pairs: &[(&str, &str)]) -> FormInput {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            s.append_pair(k, v);
        }
        FormInput::parse(s.finish().as_bytes())
    }

    #[test]
    fn fields_are_merged_over_the_advanced_object() {
        let f = input(&[
            ("name", " Orders "),
            ("url", "https://example.org/"),
            ("interval", "30s"),
            ("timeout", ""),
            ("tags", "prod, api,,"),
            ("expected_status", "200, 3xx"),
            ("advanced", "method: HEAD\nname: overridden\ntimeout: 5\n"),
            ("csrf", "t"),
        ]);
        assert_eq!(f.csrf, "t");
        assert_eq!(
            f.to_body(None).unwrap(),
            json!({"method": "HEAD", "name": "Orders", "timeout": 5, "url": "https://example.org/",
                   "interval": "30s", "tags": ["prod", "api"], "expected_status": [200, "3xx"]})
        );
        let json_advanced = input(&[("advanced", r#"{"url": "tcp://127.0.0.1:22"}"#)]);
        assert_eq!(
            json_advanced.to_body(None).unwrap(),
            json!({"url": "tcp://127.0.0.1:22"})
        );
    }

    #[test]
    fn a_missing_url_and_bad_advanced_text_are_field_errors() {
        let errors = input(&[("name", "x"), ("advanced", "- a list")])
            .to_body(None)
            .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["advanced", "url"]);
        let errors = input(&[("url", "http://a/"), ("advanced", "a: [")])
            .to_body(None)
            .unwrap_err();
        assert_eq!(errors[0].field, "advanced");
        assert!(
            errors[0].message.starts_with("not YAML or JSON"),
            "{errors:?}"
        );
    }

    #[test]
    fn an_edit_form_masks_secrets_and_keeps_them_when_sent_back() {
        let saved = json!({"id": "x", "url": "https://ann:pw@example.org/a?b=c@d", "tags": ["a", "b"],
                           "interval": 30, "headers": {"Authorization": "Bearer t0k", "Accept": "text/plain"}});
        let f = FormInput::of_body(&saved);
        assert_eq!(f.values[1], "https://ann:***@example.org/a?b=c@d");
        assert_eq!((f.values[2].as_str(), f.values[4].as_str()), ("30", "a, b"));
        assert!(
            !f.advanced.contains("t0k") && f.advanced.contains("Authorization: '***'"),
            "{}",
            f.advanced
        );
        assert!(!f.advanced.contains("id:"), "{}", f.advanced);
        let back = f.to_body(Some(&saved)).unwrap();
        assert_eq!(back["url"], "https://ann:pw@example.org/a?b=c@d");
        assert_eq!(back["headers"]["Authorization"], "Bearer t0k");
        assert_eq!(back["interval"], "30");
        // A new password, or a new header value, is taken as typed.
        let mut changed = f.clone();
        changed.values[1] = "https://ann:new@example.org/".into();
        changed.advanced = changed.advanced.replace("'***'", "Bearer other");
        let back = changed.to_body(Some(&saved)).unwrap();
        assert_eq!(back["url"], "https://ann:new@example.org/");
        assert_eq!(back["headers"]["Authorization"], "Bearer other");
    }

    #[test]
    fn errors_go_to_their_fields() {
        assert_eq!(field_of("url", true), "url");
        assert_eq!(field_of("expected_status[1]", false), "expected_status");
        assert_eq!(field_of("tcp.query_response[0].expect", false), "advanced");
        assert_eq!(field_of("", true), "advanced");
        assert_eq!(field_of("", false), "");
    }
}
