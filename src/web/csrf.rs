//! Tokens that prove a dashboard form was rendered by this process, for this action, recently.
//!
//! The dashboard's credentials (HTTP Basic, or a token as Basic's password) are sent by the
//! browser with every request to the dashboard, also when another site makes the browser post
//! a form to it: without a check, any page a logged-in user visits could add, change or delete
//! targets (cross-site request forgery). So every form carries a hidden `csrf` field:
//!
//! ```text
//! csrf = <unix seconds> "." base64url(HMAC-SHA256(key, "uptimer-form\n" action "\n" seconds))
//! ```
//!
//! * `key` is 32 random bytes made once per process and never leaves it: nobody else can make
//!   a token, and a restart voids the old ones (the form says so and keeps the user's input).
//! * `action` names what the form does and to which target (`create`, `edit:ID`,
//!   `delete:ID`, …): a token taken from one form does nothing for another.
//! * A token is good for [`MAX_AGE_S`] (12 hours); the pages that show forms refresh themselves, so a page
//!   left open keeps fresh ones. The MAC is compared in constant time (`ring::hmac::verify`).
//!
//! Another site cannot read our pages (the browser's same-origin policy), so it cannot learn a
//! token. A DNS-rebinding page could, by reaching the dashboard under its own name; that needs
//! no credentials only when none are configured, and then [`may_post`] accepts a form only
//! from a browser that reached the dashboard by a loopback address, which such a page cannot
//! name. No cookie is involved: HTTP auth is the session, the token is bound to the action.

use std::sync::LazyLock;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use base64::Engine as _;
use ring::hmac;

use crate::config::WebAuth;

/// How long a form's token is accepted.
pub const MAX_AGE_S: u64 = 12 * 3600;

/// The process's key, made at first use.
static KEY: LazyLock<hmac::Key> = LazyLock::new(|| {
    hmac::Key::generate(hmac::HMAC_SHA256, &ring::rand::SystemRandom::new())
        .expect("the system's random source works")
});

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn message(action: &str, at: u64) -> String {
    format!("uptimer-form\n{action}\n{at}")
}

/// A token for a form that does `action`.
pub fn token(action: &str) -> String {
    token_at(action, now_s())
}

fn token_at(action: &str, at: u64) -> String {
    let tag = hmac::sign(&KEY, message(action, at).as_bytes());
    format!(
        "{at}.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag.as_ref())
    )
}

/// Why a form's token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// No token, or one not made here for this action (forged, or from before a restart).
    Invalid,
    /// Made here, but more than [`MAX_AGE_S`] ago.
    Expired,
}

/// Whether `given` is a token of this process for `action`, made within [`MAX_AGE_S`].
pub fn check(action: &str, given: &str) -> Result<(), Refused> {
    check_at(action, given, now_s())
}

fn check_at(action: &str, given: &str, now: u64) -> Result<(), Refused> {
    let (at, mac) = given.split_once('.').ok_or(Refused::Invalid)?;
    let at: u64 = at.parse().map_err(|_| Refused::Invalid)?;
    let mac = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(mac)
        .map_err(|_| Refused::Invalid)?;
    hmac::verify(&KEY, message(action, at).as_bytes(), &mac).map_err(|_| Refused::Invalid)?;
    // A token from the future (a clock set back) is no older than one made now.
    if now.saturating_sub(at) > MAX_AGE_S {
        return Err(Refused::Expired);
    }
    Ok(())
}

/// Whether this request may post the dashboard's forms: with credentials configured, the auth
/// layer has checked them already; without, only when the server listens on loopback alone
/// (`listen_loopback`: another machine cannot reach it, whatever `Host` it claims) and the
/// browser reached it by a loopback name (`Host` of `localhost`, `127.x.y.z` or `[::1]`: a
/// DNS-rebinding page has a name of its own).
pub fn may_post(auth: Option<&WebAuth>, listen_loopback: bool, headers: &HeaderMap) -> bool {
    auth.is_some()
        || (listen_loopback
            && headers
                .get(axum::http::header::HOST)
                .and_then(|v| v.to_str().ok())
                .is_some_and(is_loopback_host))
}

/// Whether a `Host` header names this machine: `localhost`, `127.x.y.z` or `[::1]`, any port.
pub fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_good_for_its_action_only_and_for_a_while() {
        let t = token("delete:abc");
        assert_eq!(check("delete:abc", &t), Ok(()));
        assert_eq!(check("delete:abd", &t), Err(Refused::Invalid));
        assert_eq!(check("pause:abc", &t), Err(Refused::Invalid));
        let now = now_s();
        let old = token_at("create", now - MAX_AGE_S - 1);
        assert_eq!(check_at("create", &old, now), Err(Refused::Expired));
        let recent = token_at("create", now - MAX_AGE_S + 5);
        assert_eq!(check_at("create", &recent, now), Ok(()));
    }

    #[test]
    fn forged_and_altered_tokens_are_refused() {
        let t = token("create");
        let (at, mac) = t.split_once('.').unwrap();
        // The time changed: the MAC no longer matches.
        let moved = format!("{}.{mac}", at.parse::<u64>().unwrap() + 1);
        for bad in [
            "",
            "x",
            "1.",
            ".abc",
            "12.zz!",
            moved.as_str(),
            "1700000000.AAAA",
        ] {
            assert_eq!(check("create", bad), Err(Refused::Invalid), "{bad:?}");
        }
    }

    #[test]
    fn without_auth_only_a_loopback_host_may_post() {
        let with_host = |h: &str| {
            let mut m = HeaderMap::new();
            m.insert(axum::http::header::HOST, h.parse().unwrap());
            m
        };
        for ok in [
            "127.0.0.1:8080",
            "localhost",
            "LOCALHOST:80",
            "[::1]:8080",
            "127.9.9.9",
        ] {
            assert!(may_post(None, true, &with_host(ok)), "{ok}");
            assert!(
                !may_post(None, false, &with_host(ok)),
                "{ok} on a public listener"
            );
        }
        for bad in [
            "evil.example:8080",
            "10.0.0.1:8080",
            "[fe80::1]:80",
            "127.0.0.1.evil.example",
        ] {
            assert!(!may_post(None, true, &with_host(bad)), "{bad}");
        }
        assert!(!may_post(None, true, &HeaderMap::new()));
        let auth = WebAuth::Token(crate::config::Secret::new("t"));
        assert!(may_post(Some(&auth), false, &with_host("evil.example")));
    }
}
