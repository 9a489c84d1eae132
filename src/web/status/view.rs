//! The HTML of a page and of its widget (askama templates, escaping on), the 90-day bars
//! (inline SVG, a `<title>` per day for its tooltip) and the components' badges.

use askama::Template;
use jiff::Timestamp;

use super::docs::detected_words;
use super::facts::Facts;
use super::history::Day;
use super::markdown;
use super::model::{ComponentStatus, Shown, overall};
use crate::config::status_pages::Link;
use crate::store::Micros;
use crate::web::esc;

/// A time in the page's time zone: `2026-12-03 10:45 CET`.
fn when(f: &Facts, m: Micros) -> String {
    Timestamp::from_microsecond(m).map_or_else(
        |_| String::new(),
        |t| {
            t.to_zoned(f.page.timezone.clone())
                .strftime("%Y-%m-%d %H:%M %Z")
                .to_string()
        },
    )
}

/// A day's class (its colour) and tooltip. The words are none of the banner's.
fn day(d: &Day) -> (&'static str, String) {
    let Some(r) = d.ratio() else {
        return ("d0", format!("{}: no data", d.date));
    };
    let class = match r {
        r if r >= 0.999 => "d1",
        r if r >= 0.99 => "d2",
        r if r >= 0.95 => "d3",
        _ => "d4",
    };
    let mut text = format!("{}: {} uptime", d.date, percent(r));
    if d.down_minutes > 0 {
        text.push_str(&format!(", {} min down", d.down_minutes));
    }
    match d.incidents {
        0 => {}
        1 => text.push_str(", 1 incident"),
        n => text.push_str(&format!(", {n} incidents")),
    }
    (class, text)
}

fn percent(r: f64) -> String {
    if r >= 1.0 {
        "100%".to_owned()
    } else {
        // Never rounds up to 100%.
        format!("{:.2}%", (r * 10_000.0).floor() / 100.0)
    }
}

/// The bar of 90 days as inline SVG.
pub fn bars(days: &[Day]) -> String {
    let (checks, up) = days
        .iter()
        .fold((0, 0), |(c, u), d| (c + d.checks, u + d.up));
    let overall = if checks > 0 {
        format!("{} uptime", percent(up as f64 / checks as f64))
    } else {
        "no data".to_owned()
    };
    let mut svg = format!(
        r#"<svg class="bars" viewBox="0 0 {w} 30" preserveAspectRatio="none" role="img" aria-label="The last {n} days: {overall}">"#,
        w = days.len() * 5,
        n = days.len()
    );
    for (i, d) in days.iter().enumerate() {
        let (class, text) = day(d);
        svg.push_str(&format!(
            r#"<rect x="{}" width="4" height="30" class="{class}"><title>{}</title></rect>"#,
            i * 5,
            esc(&text)
        ));
    }
    svg.push_str("</svg>");
    svg
}

/// The 90 days' uptime of a bar, as the line under it says it.
fn uptime(days: &[Day]) -> String {
    let (checks, up) = days
        .iter()
        .fold((0, 0), |(c, u), d| (c + d.checks, u + d.up));
    if checks == 0 {
        return String::new();
    }
    format!("{} uptime", percent(up as f64 / checks as f64))
}

struct ComponentView {
    name: String,
    class: &'static str,
    label: &'static str,
    bars: String,
    uptime: String,
}

struct UpdateView {
    label: &'static str,
    when: String,
    /// Sanitised HTML.
    html: String,
}

struct IncidentView {
    anchor: String,
    title: String,
    impact: &'static str,
    components: String,
    updates: Vec<UpdateView>,
}

struct MaintenanceView {
    anchor: String,
    name: String,
    label: &'static str,
    class: &'static str,
    when: String,
    components: String,
}

#[derive(Template)]
#[template(path = "status.html")]
struct PageView<'a> {
    slug: &'a str,
    title: &'a str,
    description: &'a str,
    theme: &'static str,
    logo: bool,
    favicon: bool,
    custom_css: bool,
    links: &'a [Link],
    footer: &'a str,
    indicator: &'static str,
    banner: &'static str,
    active: Vec<IncidentView>,
    maintenance: Vec<MaintenanceView>,
    groups: Vec<(String, Vec<ComponentView>)>,
    past: Vec<IncidentView>,
    updated: String,
}

fn incidents(f: &Facts, resolved: bool) -> Vec<IncidentView> {
    let mut out: Vec<(Micros, IncidentView)> = Vec::new();
    for i in f
        .posted
        .iter()
        .filter(|i| i.resolved_at.is_some() == resolved)
    {
        out.push((
            i.created_at,
            IncidentView {
                anchor: format!("incident-p{}", i.id),
                title: i.title.clone(),
                impact: i.impact.as_str(),
                components: i
                    .components
                    .iter()
                    .map(|a| a.component.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                updates: i
                    .updates
                    .iter()
                    .rev()
                    .map(|u| UpdateView {
                        label: u.status.label(),
                        when: when(f, u.at),
                        html: markdown::render(&u.body),
                    })
                    .collect(),
            },
        ));
    }
    for d in f
        .detected
        .iter()
        .filter(|d| d.ended_at.is_some() == resolved)
    {
        let (title, said) = detected_words(d);
        let mut updates = Vec::new();
        if let Some(end) = d.ended_at {
            updates.push(UpdateView {
                label: "Resolved",
                when: when(f, end),
                html: "<p>Available again.</p>".to_owned(),
            });
        }
        updates.push(UpdateView {
            label: "Investigating",
            when: when(f, d.started_at),
            html: format!("<p>{}</p>", esc(&said)),
        });
        out.push((
            d.started_at,
            IncidentView {
                anchor: format!("incident-{}", d.id),
                title,
                impact: "major",
                components: d.components.join(", "),
                updates,
            },
        ));
    }
    out.sort_by_key(|a| std::cmp::Reverse(a.0));
    out.into_iter().take(20).map(|(_, v)| v).collect()
}

/// The page.
pub fn page(f: &Facts) -> String {
    let (indicator, banner) = overall(f.summary.worst);
    let view = PageView {
        slug: &f.page.slug,
        title: &f.page.title,
        description: f.page.description.as_deref().unwrap_or_default(),
        theme: f.page.theme.as_str(),
        logo: f.page.logo.is_some(),
        favicon: f.page.favicon.is_some(),
        custom_css: f.page.custom_css.is_some(),
        links: &f.page.links,
        footer: f.page.footer.as_deref().unwrap_or_default(),
        indicator,
        banner,
        active: incidents(f, false),
        maintenance: f
            .maintenance
            .iter()
            .map(|m| {
                let active = m.active(f.now);
                MaintenanceView {
                    anchor: format!("maintenance-{}", m.id),
                    name: m.name.clone(),
                    label: if active { "In progress" } else { "Scheduled" },
                    class: if active { "active" } else { "scheduled" },
                    when: format!("{} – {}", when(f, m.starts_at), when(f, m.ends_at)),
                    components: m.components.join(", "),
                }
            })
            .collect(),
        groups: f
            .summary
            .groups
            .iter()
            .map(|(name, shown)| {
                let rows = shown
                    .iter()
                    .map(|c| {
                        let days = f.bars.get(&c.id).map_or(&[][..], Vec::as_slice);
                        ComponentView {
                            name: c.name.clone(),
                            class: c.status.as_str(),
                            label: c.status.label(),
                            bars: bars(days),
                            uptime: uptime(days),
                        }
                    })
                    .collect();
                (name.clone(), rows)
            })
            .collect(),
        past: incidents(f, true),
        updated: when(f, f.updated_at),
    };
    view.render().unwrap_or_else(|e| {
        tracing::error!("status page: template: {e}");
        String::new()
    })
}

#[derive(Template)]
#[template(path = "status_widget.html")]
struct WidgetView<'a> {
    title: &'a str,
    theme: &'static str,
    indicator: &'static str,
    banner: &'static str,
    link: String,
}

/// The widget: the banner and a link to the page, for an iframe.
pub fn widget(f: &Facts) -> String {
    let (indicator, banner) = overall(f.summary.worst);
    WidgetView {
        title: &f.page.title,
        theme: f.page.theme.as_str(),
        indicator,
        banner,
        link: f.url(""),
    }
    .render()
    .unwrap_or_default()
}

/// A component's badge: its name and status.
pub fn badge(c: &Shown) -> String {
    let color = match c.status {
        ComponentStatus::Operational => "#1a7f37",
        ComponentStatus::UnderMaintenance => "#1f5fbf",
        ComponentStatus::DegradedPerformance => "#9a6700",
        ComponentStatus::PartialOutage => "#bc4c00",
        ComponentStatus::MajorOutage => "#b42318",
    };
    crate::web::badges::badge(&c.name, c.status.label(), color)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_coloured_by_uptime_and_say_it_without_rounding_up() {
        let d = |checks, up, down_minutes, incidents| Day {
            date: jiff::civil::date(2026, 12, 1),
            checks,
            up,
            down_minutes,
            incidents,
        };
        assert_eq!(day(&d(0, 0, 0, 0)), ("d0", "2026-12-01: no data".into()));
        assert_eq!(
            day(&d(100, 100, 0, 0)),
            ("d1", "2026-12-01: 100% uptime".into())
        );
        assert_eq!(
            day(&d(100_000, 99_999, 1, 1)),
            (
                "d1",
                "2026-12-01: 99.99% uptime, 1 min down, 1 incident".into()
            )
        );
        assert_eq!(day(&d(100, 99, 0, 0)).0, "d2");
        assert_eq!(day(&d(100, 96, 0, 0)).0, "d3");
        assert_eq!(
            day(&d(100, 50, 720, 2)),
            (
                "d4",
                "2026-12-01: 50.00% uptime, 720 min down, 2 incidents".into()
            )
        );
        let svg = bars(&[d(100, 100, 0, 0), d(0, 0, 0, 0)]);
        assert_eq!(svg.matches("<rect").count(), 2);
        assert!(svg.contains(r#"aria-label="The last 2 days: 100% uptime""#));
    }
}
