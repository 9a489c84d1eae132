//! Incident updates' Markdown, rendered safely: pulldown-cmark turns it into HTML, ammonia
//! keeps only harmless tags and attributes (no scripts, no event handlers, no `javascript:`
//! or `data:` links; links get `rel="noopener noreferrer nofollow"`), so what an operator
//! pastes cannot run on the page.

use pulldown_cmark::{Options, Parser, html};

/// Markdown as sanitised HTML.
pub fn render(markdown: &str) -> String {
    let mut raw = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(
        &mut raw,
        Parser::new_ext(
            markdown,
            Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TABLES,
        ),
    );
    ammonia::Builder::default()
        .url_schemes(["http", "https", "mailto"].into())
        .link_rel(Some("noopener noreferrer nofollow"))
        .clean(&raw)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_handlers_and_javascript_links_are_neutralised() {
        let html = render(
            "**Fixed** the [db](https://example.com/x).\n\n<script>alert(1)</script>\n\n\
             [click](javascript:alert(1)) <img src=x onerror=alert(1)> \
             <a href=\"data:text/html,<script>alert(1)</script>\">d</a>",
        );
        assert!(html.contains("<strong>Fixed</strong>"), "{html}");
        assert!(
            html.contains(r#"href="https://example.com/x""#) && html.contains("noopener"),
            "{html}"
        );
        for bad in ["<script", "javascript:", "onerror", "data:text"] {
            assert!(!html.contains(bad), "{bad} in {html}");
        }
    }
}
