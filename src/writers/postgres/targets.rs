//! The `targets` table: upserting the targets the events name (what the live set says of them,
//! tags included, is kept by `follow`).

use std::collections::BTreeMap;
use std::time::Instant;

use super::TARGET_REFRESH;
use super::insert::Core;
use super::row::Row;
use crate::postgres::{Class, PgError, classify};

impl Core {
    /// Upserts the targets of `rows` into `targets` (first/last seen, url, name, tags). A target
    /// upserted less than a minute ago is skipped unless `force`.
    pub(super) async fn upsert_targets<R: Row>(
        &self,
        client: &deadpool_postgres::Client,
        rows: &[&R],
        force: bool,
    ) -> Result<(), PgError> {
        struct T<'a, R> {
            row: &'a R,
            first: time::OffsetDateTime,
            last: time::OffsetDateTime,
        }
        let mut seen: BTreeMap<&str, T<R>> = BTreeMap::new();
        {
            let known = self.targets.lock().expect("targets lock");
            for r in rows {
                let Some(id) = r.get(&["target"]).as_str() else {
                    continue;
                };
                if !force && known.get(id).is_some_and(|t| t.elapsed() < TARGET_REFRESH) {
                    continue;
                }
                let Some(at) = r.get(&["event_time"]).as_time() else {
                    continue;
                };
                seen.entry(id)
                    .and_modify(|t| {
                        t.first = t.first.min(at);
                        if at >= t.last {
                            t.last = at;
                            t.row = r;
                        }
                    })
                    .or_insert(T {
                        row: r,
                        first: at,
                        last: at,
                    });
            }
        }
        if seen.is_empty() {
            return Ok(());
        }
        let s = |r: &R, k: &str| r.get(&[k]).as_str().map(str::to_owned);
        let ids: Vec<String> = seen.keys().map(|k| (*k).to_owned()).collect();
        let url: Vec<Option<String>> = seen.values().map(|t| s(t.row, "url")).collect();
        let name: Vec<Option<String>> = seen.values().map(|t| s(t.row, "name")).collect();
        let protocol: Vec<Option<String>> = seen.values().map(|t| s(t.row, "protocol")).collect();
        let hostname: Vec<Option<String>> = seen.values().map(|t| s(t.row, "hostname")).collect();
        let port: Vec<Option<i32>> = seen
            .values()
            .map(|t| {
                t.row
                    .get(&["port"])
                    .as_i64()
                    .filter(|p| (1..65536).contains(p))
                    .map(|p| p as i32)
            })
            .collect();
        let path: Vec<Option<String>> = seen.values().map(|t| s(t.row, "path")).collect();
        let first: Vec<time::OffsetDateTime> = seen.values().map(|t| t.first).collect();
        let last: Vec<time::OffsetDateTime> = seen.values().map(|t| t.last).collect();
        // Tags come from the live set (`follow`), never from events.
        let sql = "INSERT INTO targets AS t (id, url, name, protocol, hostname, port, path, first_seen, last_seen)
            SELECT u.id, u.url, u.name, u.protocol, u.hostname, u.port, u.path, u.first_seen, u.last_seen
            FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int4[], $7::text[],
                        $8::timestamptz[], $9::timestamptz[])
              AS u(id, url, name, protocol, hostname, port, path, first_seen, last_seen)
            ON CONFLICT (id) DO UPDATE SET
              url = coalesce(EXCLUDED.url, t.url),
              name = coalesce(EXCLUDED.name, t.name),
              protocol = coalesce(EXCLUDED.protocol, t.protocol),
              hostname = coalesce(EXCLUDED.hostname, t.hostname),
              port = coalesce(EXCLUDED.port, t.port),
              path = coalesce(EXCLUDED.path, t.path),
              first_seen = least(t.first_seen, EXCLUDED.first_seen),
              last_seen = greatest(t.last_seen, EXCLUDED.last_seen),
              -- checked again after it was removed (another prober has it): it is back
              removed_at = CASE WHEN EXCLUDED.last_seen > t.removed_at THEN NULL
                ELSE t.removed_at END";
        let stmt = client.prepare_cached(sql).await?;
        match client
            .execute(
                &stmt,
                &[
                    &ids, &url, &name, &protocol, &hostname, &port, &path, &first, &last,
                ],
            )
            .await
        {
            Ok(_) => {
                let now = Instant::now();
                let mut known = self.targets.lock().expect("targets lock");
                for id in ids {
                    known.insert(id, now);
                }
                Ok(())
            }
            Err(e) => {
                let e = PgError::from(e);
                if classify(&e) == Class::Data {
                    // Their events will fail the foreign key and be kept as rejects with the reason.
                    tracing::warn!(error = %e, "targets not upserted");
                    Ok(())
                } else {
                    Err(e)
                }
            }
        }
    }
}
