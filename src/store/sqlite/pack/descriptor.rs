//! A target's descriptor: the fields that describe what was probed rather than what happened
//! (schema, protocol, host, port, path, regex, url, target, name, location). They are the same
//! for most events of a target but can change (a config edit, a new schema version), so each
//! distinct descriptor is interned as ONE string, a compact JSON array, and an event refers to
//! it with one number.

use serde::{Deserialize, Serialize};

use super::PackError;
use crate::event::ProbeEvent;

/// The descriptor fields of one event, borrowed; also the key that finds equal descriptors.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct DescriptorRef<'a>(
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    u16,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
);

/// A descriptor read back.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Descriptor(
    pub String,
    pub String,
    pub String,
    pub String,
    pub u16,
    pub String,
    pub Option<String>,
    pub Option<String>,
    pub Option<String>,
    pub Option<String>,
    pub Option<String>,
);

impl<'a> DescriptorRef<'a> {
    pub fn of(e: &'a ProbeEvent) -> Self {
        DescriptorRef(
            &e.envelope.schema_title,
            &e.envelope.schema_version,
            &e.protocol,
            &e.hostname,
            // Port 0 is never checked: it stands for none (ICMP, push).
            e.port.unwrap_or(0),
            &e.path,
            e.regex.as_deref(),
            e.url.as_deref(),
            e.target.as_deref(),
            e.name.as_deref(),
            e.location.as_deref(),
        )
    }

    /// The interned form: `["ProbeEvent","0.4.0","https","example.org",443,"/",null,…]`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl Descriptor {
    pub fn parse(s: &str) -> Result<Descriptor, PackError> {
        serde_json::from_str(s).map_err(|_| PackError::Corrupt("descriptor"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_descriptor_round_trips_through_its_string() {
        let mut e = ProbeEvent::new(
            datetime!(2026-01-01 0:00 UTC),
            "https",
            "ex.org",
            Some(8443),
        );
        e.path = "/health".into();
        e.regex = Some("ok \"quoted\"".into());
        e.url = Some("https://ex.org:8443/health".into());
        e.target = Some("ab12".into());
        e.name = None;
        e.location = Some("eu-1".into());
        let json = DescriptorRef::of(&e).to_json();
        assert_eq!(
            json,
            r#"["ProbeEvent","0.6.0","https","ex.org",8443,"/health","ok \"quoted\"","https://ex.org:8443/health","ab12",null,"eu-1"]"#
        );
        let back = Descriptor::parse(&json).unwrap();
        let expected = Descriptor(
            "ProbeEvent".into(),
            "0.6.0".into(),
            "https".into(),
            "ex.org".into(),
            8443,
            "/health".into(),
            e.regex.clone(),
            e.url.clone(),
            e.target.clone(),
            None,
            e.location.clone(),
        );
        assert_eq!(back, expected);
    }

    #[test]
    fn a_string_that_is_no_descriptor_is_an_error() {
        for s in [
            "timeout",
            "[]",
            r#"["a","b","c","d",80,"e",null,null,null,null,null,"extra"]"#,
            r#"["a","b","c","d",70000,"e",null,null,null,null,null]"#,
        ] {
            assert!(Descriptor::parse(s).is_err(), "{s}");
        }
    }
}
