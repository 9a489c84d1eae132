//! The envelope: `schema_title`, `schema_version`, `uuid`, `event_time`.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::macros::format_description;
use uuid::Uuid;

/// Fields every event starts with, in this order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub schema_title: String,
    pub schema_version: String,
    pub uuid: Uuid,
    /// RFC 3339 in UTC with microseconds and a `+00:00` offset, exactly as the original wrote it,
    /// so its Python consumers parse our events.
    #[serde(with = "event_time")]
    pub event_time: OffsetDateTime,
}

impl Envelope {
    /// A new envelope with a random v4 uuid.
    pub fn new(title: &str, version: &str, event_time: OffsetDateTime) -> Self {
        Envelope {
            schema_title: title.to_owned(),
            schema_version: version.to_owned(),
            uuid: Uuid::new_v4(),
            event_time,
        }
    }
}

/// Formats a time as the original did: `2021-01-15T12:34:56.123456+00:00`.
pub fn format_time(t: OffsetDateTime) -> String {
    let fmt = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]+00:00"
    );
    t.to_offset(time::UtcOffset::UTC)
        .format(&fmt)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

mod event_time {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;

    pub fn serialize<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_time(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        let s = String::deserialize(d)?;
        OffsetDateTime::parse(&s, &Rfc3339).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn event_time_is_written_like_the_original() {
        let t = datetime!(2021-01-15 12:34:56.123456 UTC);
        assert_eq!(format_time(t), "2021-01-15T12:34:56.123456+00:00");
        let t = datetime!(2021-01-15 13:34:56 +01:00);
        assert_eq!(format_time(t), "2021-01-15T12:34:56.000000+00:00");
    }

    #[test]
    fn envelope_round_trips() {
        let e = Envelope::new("ProbeEvent", "0.3.0", datetime!(2026-01-01 0:00 UTC));
        let json = serde_json::to_string(&e).unwrap();
        let back: Envelope = serde_json::from_str(&json).unwrap();
        assert_eq!(back, e);
    }
}
