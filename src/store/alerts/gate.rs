//! What holds notifications back: silences (made by people through the API, the CLI or the
//! dashboard, kept in the store), maintenance windows (in the configuration, or one-off ones
//! kept as silences) and storm control (a parent down, the monitor offline, or a parent or
//! canary not yet checked since the failure). A held trigger is written as `suppressed`,
//! with why, and goes out once nothing holds it; reminders and escalation wait too. A resolve
//! is never held: a channel that was told of an incident is told of its end.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::NoticeTarget;
use crate::config::alerting::AlertingNow;
use crate::config::storm::Storm;
use crate::state::maintenance::{Window, wildcard};
use crate::store::Micros;

/// What a matcher of a silence compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Field {
    /// The target's id or name (`*` wildcards).
    Target,
    /// One of the target's tags.
    Tag,
    /// The channel notified.
    Channel,
}

/// One `field=value` of a silence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Matcher {
    pub field: Field,
    pub value: String,
}

impl Matcher {
    /// Reads `target=api-*`, `tag=db` or `channel=ops`.
    pub fn parse(s: &str) -> Result<Matcher, String> {
        let (field, value) = s.split_once('=').ok_or_else(|| {
            format!("matcher {s:?}: expected FIELD=VALUE (target=, tag= or channel=)")
        })?;
        let field = match field.trim() {
            "target" => Field::Target,
            "tag" => Field::Tag,
            "channel" => Field::Channel,
            other => {
                return Err(format!(
                    "matcher {s:?}: unknown field {other:?} (target, tag or channel)"
                ));
            }
        };
        let value = value.trim();
        if value.is_empty() {
            return Err(format!("matcher {s:?}: the value is empty"));
        }
        Ok(Matcher {
            field,
            value: value.to_owned(),
        })
    }

    fn matches(&self, t: &NoticeTarget, channel: &str) -> bool {
        match self.field {
            Field::Target => wildcard(&self.value, &t.id) || wildcard(&self.value, &t.name),
            Field::Tag => t.tags.contains(&self.value),
            Field::Channel => wildcard(&self.value, channel),
        }
    }
}

impl std::fmt::Display for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let field = match self.field {
            Field::Target => "target",
            Field::Tag => "tag",
            Field::Channel => "channel",
        };
        write!(f, "{field}={}", self.value)
    }
}

/// What a stored silence is to people: a silence, or a one-off maintenance window made
/// through the API or `uptimer maintenance add` (shown as maintenance; it holds the same way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    #[default]
    Silence,
    Maintenance,
}

impl Kind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Silence => "silence",
            Kind::Maintenance => "maintenance",
        }
    }

    pub fn parse(s: &str) -> Kind {
        if s == "maintenance" {
            Kind::Maintenance
        } else {
            Kind::Silence
        }
    }
}

/// A silence: while under way, notifications matching all its matchers are held.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Silence {
    pub id: i64,
    pub kind: Kind,
    pub matchers: Vec<Matcher>,
    pub starts_at: Micros,
    pub ends_at: Micros,
    pub created_by: Option<String>,
    pub reason: String,
    pub created_at: Micros,
}

impl Silence {
    /// Whether it is under way at `at`.
    pub fn active(&self, at: Micros) -> bool {
        self.starts_at <= at && at < self.ends_at
    }

    /// Whether it is under way at `at` for `t` on some channel: its `channel=` matchers count
    /// as matching (what the dashboard shows by a target).
    pub fn covers_target(&self, t: &NoticeTarget, at: Micros) -> bool {
        self.active(at)
            && self
                .matchers
                .iter()
                .all(|m| m.field == Field::Channel || m.matches(t, ""))
    }

    fn holds(&self, t: &NoticeTarget, channel: &str, at: Micros) -> bool {
        self.active(at) && self.matchers.iter().all(|m| m.matches(t, channel))
    }

    fn why(&self) -> String {
        let by = self.created_by.as_deref().unwrap_or("someone");
        match self.kind {
            Kind::Silence => format!("silenced by silence {} ({by}: {})", self.id, self.reason),
            Kind::Maintenance => format!("in maintenance {} ({by}: {})", self.id, self.reason),
        }
    }
}

/// Since when a target has been failing and its rule has been fired (what storm control
/// waits from).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Failing {
    pub since: Option<Micros>,
    pub fired: Option<Micros>,
    /// When the wait for a parent's or canary's next result is judged, if not at the
    /// notification's time: a trigger held for that wait and looked at again when its
    /// target recovered is judged at its own time, its wait at the recovery's.
    pub waited_to: Option<Micros>,
}

/// How a hold that waits for a parent's or canary's next result starts.
const WAITING: &str = "waiting for ";

/// Whether a hold only waits for a parent's or canary's next result (see
/// [`Gate::unchecked`]): the trigger it holds is owed once the wait is over, even when its
/// target recovered first.
pub fn waits(why: &str) -> bool {
    why.starts_with(WAITING)
}

/// A parent's or a canary's state, as the store has it in the transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TargetNow {
    /// It has an open incident.
    pub down: bool,
    /// The time of its latest result.
    pub last: Option<Micros>,
    /// When its latest incident ended (it recovered).
    pub recovered: Option<Micros>,
}

impl TargetNow {
    /// Whether it was down at `at`: down now, or recovered since.
    fn down_at(&self, at: Micros) -> bool {
        self.down || self.recovered.is_some_and(|r| r > at)
    }
}

/// What the monitor offline says: which canaries fail, of how many.
pub fn offline_text(down: &[&str], total: usize) -> String {
    format!(
        "the monitor is offline: {} of {total} connectivity canaries fail ({})",
        down.len(),
        down.join(", ")
    )
}

/// Everything that may hold a notification back, as a store's transaction sees it.
#[derive(Debug, Clone, Default)]
pub struct Gate {
    /// Silences not yet over.
    pub silences: Vec<Silence>,
    /// The configured maintenance windows.
    pub windows: Arc<[Window]>,
    /// Dependencies, canaries and how long a failure waits for their results.
    pub storm: Storm,
    /// The states of the parents and canaries that matter (see [`Gate::watched`]).
    pub now_of: HashMap<String, TargetNow>,
}

impl Gate {
    /// The silences given and what the alerting in use configures: its maintenance windows
    /// and storm control (the parents' and canaries' states are the store's to load).
    pub fn new(silences: Vec<Silence>, live: &AlertingNow) -> Gate {
        Gate {
            silences,
            windows: live.maintenance.clone(),
            storm: live.storm.clone(),
            now_of: HashMap::new(),
        }
    }

    /// Whether it can hold anything (if not, the store need not read a target's tags).
    pub fn is_empty(&self) -> bool {
        self.silences.is_empty()
            && self.windows.is_empty()
            && self.storm.parents.is_empty()
            && self.storm.canaries.is_none()
    }

    /// The targets whose state the store loads into [`Gate::now_of`] for the notifications
    /// of `ids`: their parents, and the canaries.
    pub fn watched<'a>(&'a self, ids: impl Iterator<Item = &'a str>) -> Vec<String> {
        let mut out: Vec<String> = ids
            .filter_map(|id| self.storm.parents.get(id))
            .flat_map(|ps| ps.iter().cloned())
            .collect();
        if let Some(c) = &self.storm.canaries {
            out.extend(c.targets.iter().cloned());
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The canaries down now, when they make a quorum: the monitor is offline.
    pub fn offline(&self) -> Option<Vec<&str>> {
        self.offline_at(Micros::MAX)
    }

    /// The canaries down at `at` (down now, or recovered since), when they make a quorum.
    fn offline_at(&self, at: Micros) -> Option<Vec<&str>> {
        let c = self.storm.canaries.as_ref()?;
        let down: Vec<&str> = c
            .targets
            .iter()
            .filter(|t| self.now_of.get(*t).is_some_and(|n| n.down_at(at)))
            .map(String::as_str)
            .collect();
        (down.len() >= c.quorum).then_some(down)
    }

    /// Whether `id` has no result since the target started failing while `at` (or
    /// [`Failing::waited_to`]) is still within `group_wait` of the rule's firing: its next
    /// result is worth waiting for.
    fn unchecked(&self, id: &str, f: Failing, at: Micros) -> bool {
        let Some(since) = f.since else { return false };
        let wait = i64::try_from(self.storm.group_wait.as_micros()).unwrap_or(i64::MAX);
        f.waited_to.unwrap_or(at) < f.fired.unwrap_or(at).saturating_add(wait)
            && self
                .now_of
                .get(id)
                .is_none_or(|n| n.last.is_none_or(|l| l < since))
    }

    /// Why storm control holds a notification about `t` that has been failing since
    /// `since`, at `at`.
    fn storm_hold(&self, t: &NoticeTarget, at: Micros, since: Failing) -> Option<String> {
        // A canary's own notifications are held while the monitor is offline too (they are
        // the same outage); it waits for no one. Down at the result's time: a result
        // measured before they recovered is held too.
        if let Some(c) = &self.storm.canaries {
            if let Some(down) = self.offline_at(at) {
                return Some(offline_text(&down, c.targets.len()));
            }
            if !c.targets.contains(&t.id)
                && let Some(u) = c.targets.iter().find(|id| self.unchecked(id, since, at))
            {
                return Some(format!("{WAITING}connectivity canary {u}'s next result"));
            }
        }
        let down_at = |id: &String| self.now_of.get(id).is_some_and(|n| n.down_at(at));
        let parents = self.storm.parents.get(&t.id)?;
        if let Some(p) = parents.iter().find(|p| down_at(p)) {
            return Some(format!("suppressed by its parent {p}, which is down"));
        }
        parents
            .iter()
            .find(|p| self.unchecked(p, since, at))
            .map(|p| format!("{WAITING}its parent {p}'s next result"))
    }

    /// Why a notification about `t` to `channel` at `at` is held back, if it is; `since` is
    /// when the target started failing and the rule fired.
    pub fn hold(
        &self,
        t: &NoticeTarget,
        channel: &str,
        at: Micros,
        since: Failing,
    ) -> Option<String> {
        // Asked again when its target recovered (is a trigger that waited owed now?): an
        // incident over within `group_wait` of its firing sends nothing, as any incident that
        // short, whose trigger its resolve cancels in its group.
        let wait = i64::try_from(self.storm.group_wait.as_micros()).unwrap_or(i64::MAX);
        if let (Some(back), Some(fired)) = (since.waited_to, since.fired)
            && wait > 0
            && back < fired.saturating_add(wait)
        {
            return Some("over within group_wait".to_owned());
        }
        if let Some(why) = self.storm_hold(t, at, since) {
            return Some(why);
        }
        if let Some(w) = self
            .windows
            .iter()
            .find(|w| w.covers(&t.id, &t.name, &t.tags) && w.active_until(at).is_some())
        {
            return Some(format!("in maintenance window {}", w.name));
        }
        self.silences
            .iter()
            .find(|s| s.holds(t, channel, at))
            .map(Silence::why)
    }

    /// The maintenance windows under way at `at` that cover `t`, with when each ends.
    pub fn maintenance_of<'a>(
        &'a self,
        t: &'a NoticeTarget,
        at: Micros,
    ) -> impl Iterator<Item = (&'a Window, Micros)> + 'a {
        self.windows.iter().filter_map(move |w| {
            let end = w.active_until(at)?;
            w.covers(&t.id, &t.name, &t.tags).then_some((w, end))
        })
    }
}

/// What holds a target's notifications back now, as the dashboard marks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// A maintenance window (configured, or made through the API) covers it, until then.
    Maintenance { until: Micros, why: String },
    /// A silence matches it (on some channel at least), until then.
    Silenced { until: Micros, why: String },
}

impl Gate {
    /// What holds `t` back at `at`: maintenance over a silence, and of several the one that
    /// ends last.
    pub fn standing(&self, t: &NoticeTarget, at: Micros) -> Option<Standing> {
        let configured = self
            .maintenance_of(t, at)
            .map(|(w, until)| (until, format!("maintenance window {}", w.name)));
        let stored = |kind: Kind| {
            self.silences
                .iter()
                .filter(move |s| s.kind == kind && s.covers_target(t, at))
                .map(|s| (s.ends_at, s.why()))
        };
        if let Some((until, why)) = configured
            .chain(stored(Kind::Maintenance))
            .max_by_key(|(until, _)| *until)
        {
            return Some(Standing::Maintenance { until, why });
        }
        stored(Kind::Silence)
            .max_by_key(|(until, _)| *until)
            .map(|(until, why)| Standing::Silenced { until, why })
    }
}

/// A silence's stored matchers; unreadable ones match nothing (the silence holds nothing)
/// rather than everything.
pub fn read_matchers(id: i64, json: &str) -> Vec<Matcher> {
    serde_json::from_str(json).unwrap_or_else(|e| {
        tracing::warn!(
            silence = id,
            "silence matchers unreadable ({e}): it holds nothing"
        );
        vec![Matcher {
            field: Field::Target,
            value: "\0unreadable".into(),
        }]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(tags: &[&str]) -> NoticeTarget {
        NoticeTarget {
            id: "db-1".into(),
            name: "Primary DB".into(),
            url: String::new(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
        }
    }

    fn silence(matchers: &[&str]) -> Silence {
        Silence {
            id: 3,
            kind: Kind::Silence,
            matchers: matchers
                .iter()
                .map(|m| Matcher::parse(m).unwrap())
                .collect(),
            starts_at: 100,
            ends_at: 200,
            created_by: Some("ana".into()),
            reason: "upgrade".into(),
            created_at: 100,
        }
    }

    #[test]
    fn a_silence_holds_what_all_its_matchers_match_while_under_way() {
        let g = Gate {
            silences: vec![silence(&["tag=db", "channel=pager*"])],
            ..Gate::default()
        };
        let t = target(&["db", "eu"]);
        assert_eq!(
            g.hold(&t, "pagerduty", 150, Failing::default()).as_deref(),
            Some("silenced by silence 3 (ana: upgrade)")
        );
        assert!(
            g.hold(&t, "slack", 150, Failing::default()).is_none(),
            "another channel"
        );
        assert!(
            g.hold(&target(&["web"]), "pagerduty", 150, Failing::default())
                .is_none()
        );
        assert!(
            g.hold(&t, "pagerduty", 99, Failing::default()).is_none(),
            "not yet"
        );
        assert!(
            g.hold(&t, "pagerduty", 200, Failing::default()).is_none(),
            "over"
        );
        let by_name = Gate {
            silences: vec![silence(&["target=Primary*"])],
            ..Gate::default()
        };
        assert!(by_name.hold(&t, "x", 150, Failing::default()).is_some());
    }

    #[test]
    fn the_dashboard_marks_maintenance_over_silences_ignoring_channels() {
        let t = target(&["db"]);
        let mut g = Gate {
            silences: vec![silence(&["tag=db", "channel=pager*"])],
            ..Gate::default()
        };
        assert_eq!(
            g.standing(&t, 150),
            Some(Standing::Silenced {
                until: 200,
                why: "silenced by silence 3 (ana: upgrade)".into()
            })
        );
        assert_eq!(g.standing(&t, 200), None, "over");
        assert_eq!(g.standing(&target(&["web"]), 150), None);
        let mut maintenance = silence(&["target=db-*"]);
        maintenance.kind = Kind::Maintenance;
        maintenance.ends_at = 180;
        g.silences.push(maintenance);
        assert!(matches!(
            g.standing(&t, 150),
            Some(Standing::Maintenance { until: 180, .. })
        ));
    }

    #[test]
    fn matchers_are_read_with_clear_errors() {
        assert_eq!(Matcher::parse("tag=db").unwrap().to_string(), "tag=db");
        assert!(Matcher::parse("db").unwrap_err().contains("FIELD=VALUE"));
        assert!(
            Matcher::parse("host=x")
                .unwrap_err()
                .contains("unknown field")
        );
        assert!(Matcher::parse("tag= ").unwrap_err().contains("empty"));
    }
}
