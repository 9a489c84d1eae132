//! The fleet's own facts, kept on a compacted topic (`FLEET_META_TOPIC`, one partition): the
//! partition count of the targets topic, recorded at first use. A target's partition comes
//! from its key's hash modulo that count, so changing it would move targets between probers
//! while they run: a count that differs from the recorded one is a startup error.

use std::time::Duration;

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::kafka::KafkaSettings;
use crate::kafka::log::{self, LogError};

/// The meta topic could not be read, or the targets topic has changed under the fleet.
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(
        "the targets topic {topic} has {now} partitions but {meta} recorded {recorded} at first \
         use: adding partitions moves targets between partitions, and two probers would probe \
         one target; recreate the fleet's topics (docs/fleet.md, \"Partitions\")"
    )]
    Mismatch {
        topic: String,
        meta: String,
        recorded: i32,
        now: i32,
    },
}

/// The key under which a topic's partition count is kept.
pub fn partitions_key(topic: &str) -> String {
    format!("partitions/{topic}")
}

/// The partition count recorded for `topic` by the meta records, the latest winning.
pub fn recorded_partitions(records: &[crate::kafka::Record], topic: &str) -> Option<i32> {
    let key = partitions_key(topic);
    records
        .iter()
        .rfind(|r| r.key == key.as_bytes())
        .and_then(|r| r.value.as_deref())
        .and_then(|v| serde_json::from_slice::<Value>(v).ok())
        .and_then(|v| v.get("partitions")?.as_i64())
        .map(|n| n as i32)
}

/// Checks the targets topic's partition count against the one recorded in `meta`, recording it
/// at first use. Returns the count.
pub async fn check_partitions(
    k: &KafkaSettings,
    meta: &str,
    targets: &str,
) -> Result<i32, MetaError> {
    let now = log::partition_count(k, targets).await?;
    let records = log::read_to_end(k, meta, Duration::from_secs(30)).await?;
    match recorded_partitions(&records, targets) {
        Some(recorded) if recorded != now => Err(MetaError::Mismatch {
            topic: targets.to_owned(),
            meta: meta.to_owned(),
            recorded,
            now,
        }),
        Some(_) => Ok(now),
        None => {
            let at = OffsetDateTime::now_utc()
                .format(&Rfc3339)
                .unwrap_or_default();
            let value = json!({"topic": targets, "partitions": now, "recorded_at": at});
            log::write(
                k,
                meta,
                &[(
                    partitions_key(targets),
                    Some(value.to_string().into_bytes()),
                )],
            )
            .await?;
            tracing::info!(
                topic = targets,
                partitions = now,
                "recorded the targets topic's partition count"
            );
            Ok(now)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::Record;

    fn rec(offset: i64, key: &str, value: Option<&str>) -> Record {
        Record {
            partition: 0,
            offset,
            key: key.as_bytes().to_vec(),
            value: value.map(|v| v.as_bytes().to_vec()),
        }
    }

    #[test]
    fn the_latest_record_of_the_topics_key_is_the_recorded_count() {
        let records = [
            rec(0, "partitions/t", Some(r#"{"partitions": 6}"#)),
            rec(1, "partitions/other", Some(r#"{"partitions": 3}"#)),
            rec(2, "partitions/t", Some(r#"{"partitions": 12}"#)),
        ];
        assert_eq!(recorded_partitions(&records, "t"), Some(12));
        assert_eq!(recorded_partitions(&records, "other"), Some(3));
        assert_eq!(recorded_partitions(&records, "none"), None);
    }

    #[test]
    fn a_mismatch_names_both_counts_and_the_way_out() {
        let e = MetaError::Mismatch {
            topic: "uptimer.targets".into(),
            meta: "uptimer.meta".into(),
            recorded: 24,
            now: 48,
        };
        assert!(
            e.to_string().starts_with(
                "the targets topic uptimer.targets has 48 partitions but uptimer.meta recorded 24"
            ),
            "{e}"
        );
    }
}
