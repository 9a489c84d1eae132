//! `status_pages:`: public status pages, each a list of groups of components; a component is
//! one target, or every target with a tag (`rule:` says how many of them down is a major
//! outage). docs/status-pages.md is the user's page; what a page shows is `crate::web::status`.

use std::path::PathBuf;

use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use super::ConfigError;
use super::target::Target;

/// One page as written.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PageFile {
    pub slug: String,
    pub title: String,
    pub description: Option<String>,
    #[serde(default)]
    pub groups: Vec<GroupFile>,
    /// An image file (PNG, SVG, JPEG, WebP, GIF) shown in the header, served by us.
    pub logo: Option<PathBuf>,
    /// An icon file for the browser's tab.
    pub favicon: Option<PathBuf>,
    /// Plain text under the page.
    pub footer: Option<String>,
    #[serde(default)]
    pub links: Vec<LinkFile>,
    /// `light`, `dark` or `auto` (default: the reader's preference).
    pub theme: Option<String>,
    /// An IANA time zone for the daily bars and times shown (default UTC).
    pub timezone: Option<String>,
    /// A CSS file served after ours.
    pub custom_css: Option<PathBuf>,
    /// `none` (default: public) or `dashboard` (the dashboard's credentials).
    pub protect: Option<String>,
    /// Origins allowed to embed the widget in a frame (`https://example.com`).
    #[serde(default)]
    pub embed_origins: Vec<String>,
    /// Whether incidents the monitor detects itself are shown (default true); incidents
    /// people write always are.
    pub detected_incidents: Option<bool>,
}

/// A link in a page's header.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LinkFile {
    pub title: String,
    pub url: String,
}

/// A group of components as written.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GroupFile {
    pub name: String,
    #[serde(default)]
    pub components: Vec<ComponentFile>,
}

/// A component as written: `target:` (a name or id) or `tag:`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentFile {
    pub target: Option<String>,
    pub tag: Option<String>,
    pub name: Option<String>,
    /// For a tag: `all` (default), `any` or a number of targets down that is a major outage.
    pub rule: Option<super::file::Scalar>,
}

/// A status page, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusPage {
    pub slug: String,
    pub title: String,
    pub description: Option<String>,
    pub groups: Vec<Group>,
    pub logo: Option<PathBuf>,
    pub favicon: Option<PathBuf>,
    pub footer: Option<String>,
    pub links: Vec<Link>,
    pub theme: Theme,
    pub timezone: TimeZone,
    pub custom_css: Option<PathBuf>,
    /// Behind the dashboard's credentials.
    pub protect: bool,
    pub embed_origins: Vec<String>,
    pub detected_incidents: bool,
}

impl StatusPage {
    /// A page of these groups with every option at its default.
    pub fn new(slug: &str, title: &str, groups: Vec<Group>) -> Self {
        StatusPage {
            slug: slug.to_owned(),
            title: title.to_owned(),
            description: None,
            groups,
            logo: None,
            favicon: None,
            footer: None,
            links: Vec::new(),
            theme: Theme::Auto,
            timezone: TimeZone::UTC,
            custom_css: None,
            protect: false,
            embed_origins: Vec::new(),
            detected_incidents: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub title: String,
    pub url: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Theme {
    Light,
    Dark,
    Auto,
}

impl Theme {
    pub const fn as_str(self) -> &'static str {
        match self {
            Theme::Light => "light",
            Theme::Dark => "dark",
            Theme::Auto => "auto",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub components: Vec<Component>,
}

/// What a component watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Watches {
    /// One target, by id.
    Target(String),
    /// The targets with this tag: a major outage when `down` of them are down (`None`: all).
    Tag { tag: String, down: Option<u32> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    /// As the page shows it (never a URL unless the user wrote one).
    pub name: String,
    pub watches: Watches,
}

/// Validates `status_pages:` against the configured targets.
pub fn pages_of(files: &[PageFile], targets: &[Target]) -> Result<Vec<StatusPage>, ConfigError> {
    let mut out: Vec<StatusPage> = Vec::new();
    for (i, p) in files.iter().enumerate() {
        let page = page_of(p, &format!("status_pages[{i}]"), targets)?;
        if out.iter().any(|o| o.slug == page.slug) {
            return Err(ConfigError::new(
                format!("status_pages[{i}].slug"),
                page.slug,
                "a slug no other page has",
            ));
        }
        out.push(page);
    }
    Ok(out)
}

/// Validates one page (`at`: where it is written, for errors) against the targets.
pub fn page_of(p: &PageFile, at: &str, targets: &[Target]) -> Result<StatusPage, ConfigError> {
    {
        let f = |k: &str| format!("{at}.{k}");
        let slug = p.slug.trim();
        if slug.is_empty()
            || slug.len() > 64
            || !slug
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(ConfigError::new(
                f("slug"),
                slug,
                "lower-case letters, digits and - (at most 64), as in /status/main",
            ));
        }
        if p.title.trim().is_empty() {
            return Err(ConfigError::new(f("title"), "", "the page's title"));
        }
        let mut groups = Vec::new();
        for (g, group) in p.groups.iter().enumerate() {
            let mut components = Vec::new();
            for (c, comp) in group.components.iter().enumerate() {
                let at = format!("{at}.groups[{g}].components[{c}]");
                components.push(component_of(comp, &at, targets)?);
            }
            groups.push(Group {
                name: group.name.trim().to_owned(),
                components,
            });
        }
        let theme = match p.theme.as_deref().map(str::trim) {
            None | Some("auto") => Theme::Auto,
            Some("light") => Theme::Light,
            Some("dark") => Theme::Dark,
            Some(t) => return Err(ConfigError::new(f("theme"), t, "light, dark or auto")),
        };
        let timezone = match p.timezone.as_deref().map(str::trim) {
            None | Some("") => TimeZone::UTC,
            Some(name) => TimeZone::get(name).map_err(|_| {
                ConfigError::new(
                    f("timezone"),
                    name,
                    "an IANA time zone such as Europe/Berlin or UTC",
                )
            })?,
        };
        let protect = match p.protect.as_deref().map(str::trim) {
            None | Some("none") => false,
            Some("dashboard") => true,
            Some(x) => {
                return Err(ConfigError::new(
                    f("protect"),
                    x,
                    "none (public) or dashboard (the dashboard's credentials)",
                ));
            }
        };
        let mut links = Vec::new();
        for (l, link) in p.links.iter().enumerate() {
            let url = link.url.trim();
            if !(url.starts_with("https://") || url.starts_with("http://") || url.starts_with('/'))
            {
                return Err(ConfigError::new(
                    f(&format!("links[{l}].url")),
                    url,
                    "an http(s):// URL or a path starting with /",
                ));
            }
            links.push(Link {
                title: link.title.trim().to_owned(),
                url: url.to_owned(),
            });
        }
        let mut embed_origins = Vec::new();
        for (o, origin) in p.embed_origins.iter().enumerate() {
            let origin = origin.trim().trim_end_matches('/');
            let host = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            let valid = host.is_some_and(|h| {
                !h.is_empty()
                    && h.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-.:[]*".contains(&b))
            });
            if !valid {
                return Err(ConfigError::new(
                    f(&format!("embed_origins[{o}]")),
                    origin,
                    "an origin such as https://example.com (scheme and host, no path)",
                ));
            }
            embed_origins.push(origin.to_owned());
        }
        Ok(StatusPage {
            slug: slug.to_owned(),
            title: p.title.trim().to_owned(),
            description: p.description.clone().filter(|d| !d.trim().is_empty()),
            groups,
            logo: p.logo.clone(),
            favicon: p.favicon.clone(),
            footer: p.footer.clone().filter(|d| !d.trim().is_empty()),
            links,
            theme,
            timezone,
            custom_css: p.custom_css.clone(),
            protect,
            embed_origins,
            detected_incidents: p.detected_incidents.unwrap_or(true),
        })
    }
}

fn component_of(c: &ComponentFile, at: &str, targets: &[Target]) -> Result<Component, ConfigError> {
    let name = c.name.as_deref().map(str::trim).filter(|n| !n.is_empty());
    match (&c.target, &c.tag) {
        (Some(t), None) => {
            if c.rule.is_some() {
                return Err(ConfigError::new(
                    format!("{at}.rule"),
                    "(set)",
                    "rule: on a tag component only",
                ));
            }
            let t = t.trim();
            let target = targets
                .iter()
                .find(|x| x.id == t)
                .or_else(|| targets.iter().find(|x| x.name == t))
                .ok_or_else(|| {
                    ConfigError::new(
                        format!("{at}.target"),
                        t,
                        "the id or name of a configured target",
                    )
                })?;
            Ok(Component {
                name: name.unwrap_or(&target.name).to_owned(),
                watches: Watches::Target(target.id.clone()),
            })
        }
        (None, Some(tag)) => {
            let tag = tag.trim();
            let down = match c.rule.as_ref().map(|r| r.to_string()) {
                None => None,
                Some(r) if r.trim() == "all" => None,
                Some(r) if r.trim() == "any" => Some(1),
                Some(r) => match r.trim().parse::<u32>() {
                    Ok(k) if k > 0 => Some(k),
                    _ => {
                        return Err(ConfigError::new(
                            format!("{at}.rule"),
                            r,
                            "all, any, or how many targets down make a major outage",
                        ));
                    }
                },
            };
            Ok(Component {
                name: name.unwrap_or(tag).to_owned(),
                watches: Watches::Tag {
                    tag: tag.to_owned(),
                    down,
                },
            })
        }
        _ => Err(ConfigError::new(
            at.to_owned(),
            "",
            "target: (a target's name or id) or tag:, one of them",
        )),
    }
}

#[cfg(test)]
mod tests {
    use crate::config::tests::load_file;

    const TARGETS: &str = "
targets:
  - {id: api, name: API, url: 'https://api.example/'}
  - {name: db1, url: 'https://db1.example/', tags: [db]}
";

    #[test]
    fn pages_read_targets_by_name_or_id_and_tags_with_their_rule() {
        let s = load_file(
            "yaml",
            &format!(
                "{TARGETS}status_pages:\n  - slug: main\n    title: Example Inc.\n    groups:\n      \
                 - name: Core\n        components:\n          - target: API\n          \
                 - {{tag: db, name: Databases, rule: 2}}\n"
            ),
        )
        .unwrap();
        let p = &s.status_pages[0];
        assert_eq!(
            (p.slug.as_str(), p.title.as_str()),
            ("main", "Example Inc.")
        );
        let c = &p.groups[0].components;
        assert_eq!(c[0].name, "API");
        assert_eq!(c[0].watches, super::Watches::Target("api".into()));
        assert_eq!(
            c[1].watches,
            super::Watches::Tag {
                tag: "db".into(),
                down: Some(2)
            }
        );
    }

    #[test]
    fn mistakes_are_named() {
        for (page, setting, says) in [
            (
                "{slug: Main, title: t}",
                "status_pages[0].slug",
                "lower-case",
            ),
            ("{slug: m, title: ' '}", "status_pages[0].title", "title"),
            (
                "{slug: m, title: t, groups: [{name: g, components: [{target: nope}]}]}",
                "status_pages[0].groups[0].components[0].target",
                "configured target",
            ),
            (
                "{slug: m, title: t, groups: [{name: g, components: [{tag: db, rule: most}]}]}",
                "status_pages[0].groups[0].components[0].rule",
                "any",
            ),
            (
                "{slug: m, title: t, groups: [{name: g, components: [{name: x}]}]}",
                "status_pages[0].groups[0].components[0]",
                "one of them",
            ),
        ] {
            let e = load_file("yaml", &format!("{TARGETS}status_pages: [{page}]\n")).unwrap_err();
            assert_eq!(e.setting, setting, "{page}: {e}");
            assert!(e.to_string().contains(says), "{page}: {e}");
        }
        let e = load_file(
            "yaml",
            &format!("{TARGETS}status_pages: [{{slug: m, title: a}}, {{slug: m, title: b}}]\n"),
        )
        .unwrap_err();
        assert_eq!(e.setting, "status_pages[1].slug", "{e}");
    }
}
