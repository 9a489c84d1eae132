//! RSS 2.0 and Atom feeds of a page's incidents (written and detected, newest first) and
//! maintenance, with links absolute from `WEB_PUBLIC_URL`. The `rss` and
//! `atom_syndication` crates write the XML (escaping included).

use atom_syndication as atom;

use super::docs::detected_words;
use super::facts::Facts;
use super::markdown;
use crate::store::Micros;

/// One entry of either feed.
struct Entry {
    id: String,
    title: String,
    /// Sanitised HTML.
    html: String,
    published: Micros,
    updated: Micros,
}

fn entries(f: &Facts) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::new();
    for i in &f.posted {
        let html = i
            .updates
            .iter()
            .rev()
            .map(|u| {
                format!(
                    "<p><strong>{}</strong> ({})</p>{}",
                    u.status.label(),
                    crate::store::rfc3339(u.at),
                    markdown::render(&u.body)
                )
            })
            .collect();
        out.push(Entry {
            id: format!("p{}", i.id),
            title: i.title.clone(),
            html,
            published: i.created_at,
            updated: i.updated_at,
        });
    }
    for d in &f.detected {
        let (title, said) = detected_words(d);
        let mut html = String::new();
        if let Some(end) = d.ended_at {
            html.push_str(&format!(
                "<p><strong>Resolved</strong> ({}): available again.</p>",
                crate::store::rfc3339(end)
            ));
        }
        html.push_str(&format!("<p>{}</p>", crate::web::esc(&said)));
        out.push(Entry {
            id: d.id.clone(),
            title,
            html,
            published: d.started_at,
            updated: d.ended_at.unwrap_or(d.started_at),
        });
    }
    for m in &f.maintenance {
        out.push(Entry {
            id: m.id.clone(),
            title: format!("Maintenance: {}", m.name),
            html: format!(
                "<p>From {} to {}: {}.</p>",
                crate::store::rfc3339(m.starts_at),
                crate::store::rfc3339(m.ends_at),
                crate::web::esc(&m.components.join(", "))
            ),
            published: m.starts_at,
            updated: m.starts_at,
        });
    }
    out.sort_by(|a, b| b.published.cmp(&a.published).then(a.id.cmp(&b.id)));
    out.truncate(50);
    out
}

/// A stable id (a tag URI, RFC 4151) whatever address the page is read at.
fn tag(f: &Facts, entry: &str) -> String {
    format!("tag:uptimer,2026:status/{}/{entry}", f.page.slug)
}

fn chrono_time(m: Micros) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::from_timestamp_micros(m)
        .unwrap_or_default()
        .fixed_offset()
}

/// The RSS 2.0 feed.
pub fn rss(f: &Facts) -> String {
    let items: Vec<rss::Item> = entries(f)
        .into_iter()
        .map(|e| {
            let link = f.url(&format!("#incident-{}", e.id));
            rss::ItemBuilder::default()
                .title(Some(e.title))
                .link(Some(link.clone()))
                .description(Some(e.html))
                .pub_date(Some(chrono_time(e.published).to_rfc2822()))
                .guid(Some(rss::Guid {
                    value: tag(f, &e.id),
                    permalink: false,
                }))
                .build()
        })
        .collect();
    rss::ChannelBuilder::default()
        .title(format!("{} status", f.page.title))
        .link(f.url(""))
        .description(format!("Incidents and maintenance of {}", f.page.title))
        .last_build_date(Some(chrono_time(f.updated_at).to_rfc2822()))
        .items(items)
        .build()
        .to_string()
}

/// The Atom feed.
pub fn atom(f: &Facts) -> String {
    let link = |href: String, rel: &str| {
        let mut l = atom::Link::default();
        l.set_href(href);
        l.set_rel(rel);
        l
    };
    let entries: Vec<atom::Entry> = entries(f)
        .into_iter()
        .map(|e| {
            let href = f.url(&format!("#incident-{}", e.id));
            let mut content = atom::Content::default();
            content.set_content_type("html".to_owned());
            content.set_value(e.html);
            atom::EntryBuilder::default()
                .id(tag(f, &e.id))
                .title(e.title)
                .updated(chrono_time(e.updated))
                .published(Some(chrono_time(e.published)))
                .links(vec![link(href, "alternate")])
                .content(Some(content))
                .build()
        })
        .collect();
    atom::FeedBuilder::default()
        .id(tag(f, ""))
        .title(format!("{} status", f.page.title))
        .updated(chrono_time(f.updated_at))
        .links(vec![
            link(f.url(""), "alternate"),
            link(f.url("/feed.atom"), "self"),
        ])
        .authors(vec![{
            let mut p = atom::Person::default();
            p.set_name(f.page.title.clone());
            p
        }])
        .entries(entries)
        .build()
        .to_string()
}
