//! Changing the live set from outside the configuration: what the JSON API, the dashboard's
//! forms and `uptimer targets` do, in one place. Every change is validated in full before
//! anything changes; what the API made is saved under `DATA_DIR` before the change applies,
//! so that a restart keeps it (and its id).
//!
//! By default a target in a link-local or cloud-metadata range (169.254.0.0/16, fe80::/10,
//! 100.100.100.200, fd00:ec2::254) is refused: a public API that probes any URL it is given
//! would let anyone read a cloud machine's credentials. `allow_private_targets: true` lifts it.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;

use crate::config::alerting::{AlertingNow, LiveAlerting};

use super::saved::{self, Saved, SavedError};
use super::{Change, Entry, Registry, RegistryError};
use crate::config::{
    ConfigError, EventFormat, Interval, Source, Target, TargetDefaults, api_target,
};

/// One field's error, as the API reports it (`{"field": "url", "message": "…"}`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// Why a change was refused.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The input is not a valid target (HTTP 422).
    #[error("invalid target: {}", .0.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    /// No target has the id (HTTP 404).
    #[error("no target with id {0:?}")]
    NotFound(String),
    /// Another target has the id (HTTP 409).
    #[error("a target with id {0:?} exists already")]
    Clash(String),
    /// The target comes from the configuration (HTTP 409).
    #[error("target {id:?} comes from the {} configuration and changes only there", defined_in.as_str())]
    ReadOnly { id: String, defined_in: Source },
    /// The change could not be saved: nothing changed (HTTP 500).
    #[error("{0}")]
    Save(#[from] SavedError),
}

impl EditError {
    fn field(field: &str, message: impl Into<String>) -> EditError {
        EditError::Invalid(vec![FieldError {
            field: field.to_owned(),
            message: message.into(),
        }])
    }
}

impl From<ConfigError> for EditError {
    fn from(e: ConfigError) -> EditError {
        let message = if e.value.is_empty() {
            format!("expected {}", e.expected)
        } else {
            format!("{:?}: expected {}", e.value, e.expected)
        };
        EditError::field(&e.setting, message)
    }
}

impl From<RegistryError> for EditError {
    fn from(e: RegistryError) -> EditError {
        match e {
            RegistryError::NotFound(id) => EditError::NotFound(id),
        }
    }
}

/// A check a target must pass before it joins (the prober's TLS settings); shared by the
/// editor and the reloads.
pub type TargetCheck = Arc<dyn Fn(&Target) -> Result<(), String> + Send + Sync>;

/// Makes the API's changes; see the module's documentation.
pub struct Editor {
    registry: Arc<Registry>,
    defaults: TargetDefaults,
    allow_private: bool,
    path: PathBuf,
    check: TargetCheck,
    /// `EVENT_FORMAT`: the original's events carry HTTP checks only.
    format: EventFormat,
    /// What is saved; edits are made one at a time under this lock.
    saved: Mutex<Saved>,
    /// The configuration's shared alert rules, which the API's targets get.
    alerting: Option<LiveAlerting>,
}

impl Editor {
    /// An editor for `registry`, saving to `DATA_DIR/targets.json`. The targets and pauses
    /// saved there are added to the registry now; a saved target that is no longer valid
    /// (a setting changed meaning) is logged and left out, and stays in the file.
    pub fn open(
        registry: Arc<Registry>,
        defaults: TargetDefaults,
        allow_private: bool,
        data_dir: &std::path::Path,
        check: TargetCheck,
    ) -> Result<Editor, SavedError> {
        let path = saved::path(data_dir);
        let saved = saved::load(&path)?;
        let mut changes = Vec::new();
        for body in &saved.targets {
            match api_target(body, &defaults) {
                Ok(t)
                    if registry
                        .get(&t.id)
                        .is_some_and(|e| !e.target.source.is_api()) =>
                {
                    tracing::warn!(
                        id = %t.id,
                        "a target saved by the API has the id of a configured target: the configured one is kept"
                    );
                }
                Ok(t) => changes.push(Change::Upsert(Arc::new(t))),
                Err(e) => {
                    let id = body.get("id").and_then(Value::as_str).unwrap_or_default();
                    tracing::warn!(
                        file = %path.display(),
                        id,
                        "a target saved by the API is left out: {e}"
                    );
                }
            }
        }
        let ids: std::collections::HashSet<String> = registry
            .entries()
            .iter()
            .map(|e| e.target.id.clone())
            .chain(changes.iter().map(|c| c.id().to_owned()))
            .collect();
        changes.extend(
            saved
                .paused
                .iter()
                .filter(|id| ids.contains(*id))
                .map(|id| Change::Pause(id.clone())),
        );
        registry
            .apply(changes)
            .expect("upserts and pauses of present targets apply");
        Ok(Editor {
            registry,
            defaults,
            allow_private,
            path,
            check,
            format: EventFormat::Current,
            saved: Mutex::new(saved),
            alerting: None,
        })
    }

    /// Gives the API's targets the configuration's `alert_rules:` and default `alerts:`, now
    /// (those saved before) and as they are made or changed, following reloads.
    pub fn with_alerting(mut self, live: LiveAlerting) -> Editor {
        let changes = api_rule_changes(&self.registry, &live.get());
        if let Err(e) = self.registry.apply(changes) {
            tracing::warn!("alert rules for the API's targets: {e}");
        }
        self.alerting = Some(live);
        self
    }

    /// Refuses checks the events of `format` cannot carry (`EVENT_FORMAT=original`: HTTP only).
    pub fn with_format(mut self, format: EventFormat) -> Editor {
        self.format = format;
        self
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Adds a target from `body` (a target object as in the config file). Its id is its `id`
    /// when given, else a new one.
    pub fn create(&self, body: &Value) -> Result<Arc<Entry>, EditError> {
        let mut body = object(body)?;
        let id = match body.get("id") {
            Some(Value::String(id)) => id.clone(),
            Some(_) => return Err(EditError::field("id", "expected a string")),
            None => new_id(),
        };
        body.insert("id".into(), Value::String(id.clone()));
        let body = Value::Object(body);
        let target = self.validate(&body)?;
        let mut saved = self.lock();
        if self.registry.get(&id).is_some() || saved_index(&saved, &id).is_some() {
            return Err(EditError::Clash(id));
        }
        self.commit(&mut saved, |s| s.targets.push(body), Change::Upsert(target))
    }

    /// Replaces the API target `id` with `body` (whose `id`, if given, must be `id`).
    pub fn replace(&self, id: &str, body: &Value) -> Result<Arc<Entry>, EditError> {
        let mut saved = self.lock();
        self.replace_locked(&mut saved, id, body)
    }

    fn replace_locked(
        &self,
        saved: &mut Saved,
        id: &str,
        body: &Value,
    ) -> Result<Arc<Entry>, EditError> {
        let mut body = object(body)?;
        match body.get("id") {
            None => {}
            Some(Value::String(given)) if given == id => {}
            Some(_) => {
                return Err(EditError::field(
                    "id",
                    format!("expected {id:?}, the id in the path (an id cannot change)"),
                ));
            }
        }
        body.insert("id".into(), Value::String(id.to_owned()));
        let body = Value::Object(body);
        self.writable(id)?;
        let target = self.validate(&body)?;
        let at = saved_index(saved, id);
        self.commit(
            saved,
            |s| match at {
                Some(i) => s.targets[i] = body,
                None => s.targets.push(body),
            },
            Change::Upsert(target),
        )
    }

    /// Applies a JSON Merge Patch (RFC 7386) to the API target `id` as it was given; read,
    /// merged and replaced under one lock, so that two patches at once both apply.
    pub fn patch(&self, id: &str, patch: &Value) -> Result<Arc<Entry>, EditError> {
        object(patch)?;
        let mut saved = self.lock();
        self.writable(id)?;
        let mut merged = saved_index(&saved, id)
            .map(|i| saved.targets[i].clone())
            .ok_or_else(|| EditError::NotFound(id.to_owned()))?;
        merge_patch(&mut merged, patch);
        self.replace_locked(&mut saved, id, &merged)
    }

    /// Removes the API target `id`. Its history stays in the stores, marked removed.
    pub fn delete(&self, id: &str) -> Result<Arc<Entry>, EditError> {
        let mut saved = self.lock();
        let entry = self.writable(id)?;
        let at = saved_index(&saved, id);
        self.commit(
            &mut saved,
            |s| {
                if let Some(i) = at {
                    s.targets.remove(i);
                }
                s.paused.retain(|p| p != id);
            },
            Change::Remove(id.to_owned()),
        )?;
        Ok(entry)
    }

    /// Pauses (or resumes) target `id`, of any source.
    pub fn set_paused(&self, id: &str, paused: bool) -> Result<Arc<Entry>, EditError> {
        let mut saved = self.lock();
        if self.registry.get(id).is_none() {
            return Err(EditError::NotFound(id.to_owned()));
        }
        let change = if paused {
            Change::Pause(id.to_owned())
        } else {
            Change::Resume(id.to_owned())
        };
        self.commit(
            &mut saved,
            |s| {
                s.paused.retain(|p| p != id);
                if paused {
                    s.paused.push(id.to_owned());
                }
            },
            change,
        )
    }

    /// The object the API target `id` was given as (with its id), for editing.
    pub fn body(&self, id: &str) -> Option<Value> {
        let saved = self.lock();
        saved_index(&saved, id).map(|i| saved.targets[i].clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Saved> {
        self.saved.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The entry of `id` when the API may change it.
    fn writable(&self, id: &str) -> Result<Arc<Entry>, EditError> {
        let entry = self
            .registry
            .get(id)
            .ok_or_else(|| EditError::NotFound(id.to_owned()))?;
        if !entry.target.source.is_api() {
            return Err(EditError::ReadOnly {
                id: id.to_owned(),
                defined_in: entry.target.source,
            });
        }
        Ok(entry)
    }

    /// The target `body` makes, when it may join.
    fn validate(&self, body: &Value) -> Result<Arc<Target>, EditError> {
        let mut target = api_target(body, &self.defaults)?;
        if let Some(live) = &self.alerting {
            live.get().apply_to_api_target(&mut target)?;
        }
        if !self.allow_private
            && let Some(why) = forbidden_host(&target)
        {
            return Err(EditError::field(
                "url",
                format!(
                    "{why}: link-local and cloud-metadata addresses are refused (set \
                     allow_private_targets: true in the config file, or ALLOW_PRIVATE_TARGETS=true, \
                     to allow them)"
                ),
            ));
        }
        if target.interval == Interval::Once {
            return Err(EditError::field(
                "interval",
                "a period such as 30s or 5m (-1, probe once, is for `uptimer probe` and \
                 PROBE_INTERVAL)",
            ));
        }
        if self.format == EventFormat::Original && !target.kind.is_http() {
            return Err(EditError::field(
                "url",
                format!(
                    "an http(s) URL: this server writes the original's events \
                     (EVENT_FORMAT=original), which carry HTTP checks only, not {}",
                    target.kind
                ),
            ));
        }
        if target.kind == crate::event::Kind::Push {
            return Err(EditError::field(
                "url",
                "a check that is probed: push targets are defined in the config file",
            ));
        }
        (self.check)(&target).map_err(|e| EditError::field("tls_verify", e))?;
        Ok(Arc::new(target))
    }

    /// Saves the file with `edit` made, then applies `change`; on a failed save nothing
    /// changes.
    fn commit(
        &self,
        saved: &mut Saved,
        edit: impl FnOnce(&mut Saved),
        change: Change,
    ) -> Result<Arc<Entry>, EditError> {
        let id = change.id().to_owned();
        let removed = matches!(change, Change::Remove(_));
        let mut next = saved.clone();
        edit(&mut next);
        if next != *saved {
            saved::store(&self.path, &next)?;
            *saved = next;
        }
        let before = self.registry.get(&id);
        self.registry.apply(vec![change])?;
        let entry = if removed {
            before
        } else {
            self.registry.get(&id)
        };
        entry.ok_or(EditError::NotFound(id))
    }
}

fn object(body: &Value) -> Result<serde_json::Map<String, Value>, EditError> {
    match body {
        Value::Object(o) => Ok(o.clone()),
        _ => Err(EditError::field(
            "",
            "expected a JSON object: a target as in the config file",
        )),
    }
}

fn saved_index(saved: &Saved, id: &str) -> Option<usize> {
    saved
        .targets
        .iter()
        .position(|t| t.get("id").and_then(Value::as_str) == Some(id))
}

/// A new id for a target made without one: 16 hex digits, as derived ids look.
fn new_id() -> String {
    format!("{:016x}", uuid::Uuid::new_v4().as_u128() as u64)
}

/// RFC 7386: objects merge key by key, `null` removes a key, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    let Value::Object(map) = target else {
        unreachable!("made an object above")
    };
    for (k, v) in patch {
        if v.is_null() {
            map.remove(k);
        } else {
            merge_patch(map.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// The upserts that give the API's targets the rules `alerting` has for them (those whose
/// rules change only).
pub fn api_rule_changes(registry: &Registry, alerting: &AlertingNow) -> Vec<Change> {
    registry
        .entries()
        .iter()
        .filter(|e| e.target.source.is_api())
        .filter_map(|e| {
            let mut t = (*e.target).clone();
            if let Err(err) = alerting.apply_to_api_target(&mut t) {
                tracing::warn!(id = %t.id, "alert rules for a target of the API: {err}");
                return None;
            }
            (t.profile.alerts != e.target.profile.alerts).then(|| Change::Upsert(Arc::new(t)))
        })
        .collect()
}

/// Why the target's host is refused, when it is an address (or the well-known name) of a
/// link-local or cloud-metadata range. Names are not resolved here.
fn forbidden_host(target: &Target) -> Option<String> {
    let host = target.hostname().trim_end_matches('.').to_ascii_lowercase();
    if ["metadata.google.internal", "metadata.goog", "instance-data"].contains(&host.as_str()) {
        return Some(format!("{host} is a cloud metadata service"));
    }
    let ip: IpAddr = host.parse().ok()?;
    let ip = ip.to_canonical();
    let bad = match ip {
        IpAddr::V4(v4) => v4.is_link_local() || v4.octets() == [100, 100, 100, 200],
        IpAddr::V6(v6) => {
            (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6
                    == "fd00:ec2::254"
                        .parse::<std::net::Ipv6Addr>()
                        .expect("an address")
        }
    };
    bad.then(|| format!("{ip} is a link-local or cloud-metadata address"))
}

#[cfg(test)]
mod tests;
