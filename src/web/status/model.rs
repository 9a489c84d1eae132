//! What a page shows now, pure: each component's status from its targets' live states (and
//! the incidents people wrote), and the overall banner by the worst of them.

use crate::config::status_pages::{StatusPage, Watches};
use crate::store::status::StatusIncident;
use crate::store::{Status, TargetSummary};

/// A component's status, as Statuspage names them, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ComponentStatus {
    Operational,
    UnderMaintenance,
    DegradedPerformance,
    PartialOutage,
    MajorOutage,
}

impl ComponentStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            ComponentStatus::Operational => "operational",
            ComponentStatus::UnderMaintenance => "under_maintenance",
            ComponentStatus::DegradedPerformance => "degraded_performance",
            ComponentStatus::PartialOutage => "partial_outage",
            ComponentStatus::MajorOutage => "major_outage",
        }
    }

    pub const ALL: [ComponentStatus; 5] = [
        ComponentStatus::Operational,
        ComponentStatus::UnderMaintenance,
        ComponentStatus::DegradedPerformance,
        ComponentStatus::PartialOutage,
        ComponentStatus::MajorOutage,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// As the page says it (none of the banner's texts).
    pub const fn label(self) -> &'static str {
        match self {
            ComponentStatus::Operational => "Operational",
            ComponentStatus::UnderMaintenance => "Under maintenance",
            ComponentStatus::DegradedPerformance => "Degraded performance",
            ComponentStatus::PartialOutage => "Partial outage",
            ComponentStatus::MajorOutage => "Major outage",
        }
    }
}

/// The page's overall status: Statuspage's indicator and the banner's text, by the worst
/// component.
pub fn overall(worst: ComponentStatus) -> (&'static str, &'static str) {
    match worst {
        ComponentStatus::Operational => ("none", "All Systems Operational"),
        ComponentStatus::UnderMaintenance => ("maintenance", "Service Under Maintenance"),
        ComponentStatus::DegradedPerformance => ("minor", "Minor Service Outage"),
        ComponentStatus::PartialOutage => ("major", "Partial System Outage"),
        ComponentStatus::MajorOutage => ("critical", "Major System Outage"),
    }
}

/// One target's status on a page: `maintenance` says a maintenance window covers it now.
fn target_status(t: &TargetSummary, maintenance: bool) -> ComponentStatus {
    if maintenance {
        return ComponentStatus::UnderMaintenance;
    }
    match t.status {
        Status::Down => ComponentStatus::MajorOutage,
        Status::Degraded | Status::Flapping => ComponentStatus::DegradedPerformance,
        Status::Up | Status::Unknown | Status::Paused => ComponentStatus::Operational,
    }
}

/// A component's status from its targets' (`down`: how many down make a major outage; `None`:
/// all of them).
fn component_status(of: &[ComponentStatus], down: Option<u32>) -> ComponentStatus {
    if of.is_empty() {
        return ComponentStatus::Operational;
    }
    let failing = of
        .iter()
        .filter(|s| **s == ComponentStatus::MajorOutage)
        .count();
    let needed = down.map_or(of.len(), |k| k as usize).min(of.len());
    if failing > 0 && failing >= needed {
        ComponentStatus::MajorOutage
    } else if failing > 0 {
        ComponentStatus::PartialOutage
    } else if of.contains(&ComponentStatus::DegradedPerformance) {
        ComponentStatus::DegradedPerformance
    } else if of.iter().all(|s| *s == ComponentStatus::UnderMaintenance) {
        ComponentStatus::UnderMaintenance
    } else {
        ComponentStatus::Operational
    }
}

/// A component as shown.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Shown {
    /// Stable while the page's configuration is: `<slug>-g<group>-c<component>`.
    pub id: String,
    pub name: String,
    pub status: ComponentStatus,
    /// The ids of the targets it watches now.
    pub targets: Vec<String>,
}

/// A page's groups with their components' statuses, and the worst of them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Summary {
    pub groups: Vec<(String, Vec<Shown>)>,
    pub worst: ComponentStatus,
}

impl Summary {
    pub fn components(&self) -> impl Iterator<Item = &Shown> {
        self.groups.iter().flat_map(|(_, c)| c)
    }
}

/// What a page shows now, from the targets' live states; `maintenance` says which targets a
/// maintenance window covers now, and each unresolved incident of `posted` makes the
/// components it names at least as bad as it says.
pub fn summarize(
    page: &StatusPage,
    targets: &[TargetSummary],
    maintenance: &dyn Fn(&TargetSummary) -> bool,
    posted: &[StatusIncident],
) -> Summary {
    let mut worst = ComponentStatus::Operational;
    let groups = page
        .groups
        .iter()
        .enumerate()
        .map(|(g, group)| {
            let shown = group
                .components
                .iter()
                .enumerate()
                .map(|(c, comp)| {
                    let (mut status, watched) = match &comp.watches {
                        Watches::Target(id) => match targets.iter().find(|t| t.id == *id) {
                            Some(t) => (target_status(t, maintenance(t)), vec![t.id.clone()]),
                            None => (ComponentStatus::Operational, Vec::new()),
                        },
                        Watches::Tag { tag, down } => {
                            let of: Vec<&TargetSummary> = targets
                                .iter()
                                .filter(|t| t.tags.contains(tag) && t.removed_at.is_none())
                                .collect();
                            let statuses: Vec<ComponentStatus> = of
                                .iter()
                                .map(|t| target_status(t, maintenance(t)))
                                .collect();
                            (
                                component_status(&statuses, *down),
                                of.iter().map(|t| t.id.clone()).collect(),
                            )
                        }
                    };
                    for i in posted.iter().filter(|i| i.resolved_at.is_none()) {
                        for a in i.components.iter().filter(|a| a.component == comp.name) {
                            if let Some(said) = ComponentStatus::parse(&a.status) {
                                status = status.max(said);
                            }
                        }
                    }
                    worst = worst.max(status);
                    Shown {
                        id: format!("{}-g{g}-c{c}", page.slug),
                        name: comp.name.clone(),
                        status,
                        targets: watched,
                    }
                })
                .collect();
            (group.name.clone(), shown)
        })
        .collect();
    Summary { groups, worst }
}

#[cfg(test)]
mod tests {
    use super::ComponentStatus::*;
    use super::*;

    #[test]
    fn a_tag_component_follows_its_rule_and_the_banner_the_worst() {
        let s = |list: &[ComponentStatus], down| component_status(list, down);
        assert_eq!(
            s(&[MajorOutage, Operational], None),
            PartialOutage,
            "all: one of two"
        );
        assert_eq!(s(&[MajorOutage, MajorOutage], None), MajorOutage);
        assert_eq!(s(&[MajorOutage, Operational], Some(1)), MajorOutage, "any");
        assert_eq!(
            s(&[MajorOutage, Operational, Operational], Some(2)),
            PartialOutage
        );
        assert_eq!(
            s(&[DegradedPerformance, Operational], None),
            DegradedPerformance
        );
        assert_eq!(
            s(&[UnderMaintenance, UnderMaintenance], None),
            UnderMaintenance
        );
        assert_eq!(s(&[UnderMaintenance, Operational], None), Operational);
        assert_eq!(s(&[], None), Operational);
        assert_eq!(overall(Operational), ("none", "All Systems Operational"));
        assert_eq!(
            overall(UnderMaintenance),
            ("maintenance", "Service Under Maintenance")
        );
        assert_eq!(
            overall(DegradedPerformance),
            ("minor", "Minor Service Outage")
        );
        assert_eq!(overall(PartialOutage), ("major", "Partial System Outage"));
        assert_eq!(overall(MajorOutage), ("critical", "Major System Outage"));
        // The labels never say what the banner says.
        let all = [
            Operational,
            UnderMaintenance,
            DegradedPerformance,
            PartialOutage,
            MajorOutage,
        ];
        for c in all {
            for b in all {
                assert!(
                    !c.label().contains(overall(b).1),
                    "{c:?} says {b:?}'s banner"
                );
            }
        }
    }
}
