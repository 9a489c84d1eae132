//! dbmate-compatible migrations, embedded in the binary: the files of `db/migrations/`
//! (`-- migrate:up` / `-- migrate:down` sections, versions recorded in `schema_migrations`), so
//! `dbmate up` and `uptimer migrate up` apply the same SQL and either can take over from the other.
//!
//! `uptimer migrate` holds a session advisory lock while it works, so several consumers starting at
//! once apply each migration exactly once.

use tokio_postgres::Client;

use super::PgError;

/// Every file of `db/migrations/`, oldest first (a unit test checks the list matches the folder).
pub const FILES: &[(&str, &str)] = &[
    (
        "20210115091009_create_dummy_events.sql",
        include_str!("../../db/migrations/20210115091009_create_dummy_events.sql"),
    ),
    (
        "20210115091415_create_ip_port_domain.sql",
        include_str!("../../db/migrations/20210115091415_create_ip_port_domain.sql"),
    ),
    (
        "20210115091725_create_probe_events.sql",
        include_str!("../../db/migrations/20210115091725_create_probe_events.sql"),
    ),
    (
        "20210115124230_add_regex_to_probe_events.sql",
        include_str!("../../db/migrations/20210115124230_add_regex_to_probe_events.sql"),
    ),
    (
        "20261125230000_partition_probe_events.sql",
        include_str!("../../db/migrations/20261125230000_partition_probe_events.sql"),
    ),
    (
        "20261125230100_add_probe_event_fields.sql",
        include_str!("../../db/migrations/20261125230100_add_probe_event_fields.sql"),
    ),
    (
        "20261125230200_create_targets.sql",
        include_str!("../../db/migrations/20261125230200_create_targets.sql"),
    ),
    (
        "20261125230300_widen_dummy_events_integer_value.sql",
        include_str!("../../db/migrations/20261125230300_widen_dummy_events_integer_value.sql"),
    ),
    (
        "20261126000000_create_rollups.sql",
        include_str!("../../db/migrations/20261126000000_create_rollups.sql"),
    ),
    (
        "20261130120000_dashboard_fixes.sql",
        include_str!("../../db/migrations/20261130120000_dashboard_fixes.sql"),
    ),
    (
        "20261201000000_target_state_machine.sql",
        include_str!("../../db/migrations/20261201000000_target_state_machine.sql"),
    ),
    (
        "20261202000000_add_conditions_to_probe_events.sql",
        include_str!("../../db/migrations/20261202000000_add_conditions_to_probe_events.sql"),
    ),
    (
        "20261203000000_add_check_kinds_to_probe_events.sql",
        include_str!("../../db/migrations/20261203000000_add_check_kinds_to_probe_events.sql"),
    ),
    (
        "20261204000000_create_alerting.sql",
        include_str!("../../db/migrations/20261204000000_create_alerting.sql"),
    ),
    (
        "20261205000000_create_silences.sql",
        include_str!("../../db/migrations/20261205000000_create_silences.sql"),
    ),
    (
        "20261210000000_create_status_incidents.sql",
        include_str!("../../db/migrations/20261210000000_create_status_incidents.sql"),
    ),
    (
        "20261215000000_add_round_to_probe_events.sql",
        include_str!("../../db/migrations/20261215000000_add_round_to_probe_events.sql"),
    ),
    (
        "20261216000000_create_verdicts.sql",
        include_str!("../../db/migrations/20261216000000_create_verdicts.sql"),
    ),
];

/// Key of the advisory lock held while migrating ("uptimer" in ASCII).
pub const LOCK_KEY: i64 = 0x0075_7074_696d_6572;

/// One migration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// The leading digits of the file name, as dbmate records them.
    pub version: String,
    pub file: String,
    pub up: String,
    pub down: String,
    /// `transaction:false` after `-- migrate:up` (dbmate's option): run outside a transaction.
    pub up_in_transaction: bool,
    pub down_in_transaction: bool,
}

/// A migration file that is not in dbmate's format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("{file}: a migration file is named VERSION_name.sql")]
    Name { file: String },
    #[error("{file}: unexpected or repeated -- migrate:{section}")]
    Section { file: String, section: String },
    #[error("{file}: SQL before -- migrate:up")]
    SqlBeforeUp { file: String },
    #[error("{file}: no -- migrate:{section} section")]
    Missing { file: String, section: &'static str },
    #[error("{file}: empty -- migrate:up section")]
    EmptyUp { file: String },
}

/// Parses one file in dbmate's format.
pub fn parse(file: &str, text: &str) -> Result<Migration, FileError> {
    let version: String = file.chars().take_while(char::is_ascii_digit).collect();
    let file_name = || file.to_owned();
    if version.is_empty() || !file.ends_with(".sql") {
        return Err(FileError::Name { file: file_name() });
    }
    let mut up: Option<(String, bool)> = None;
    let mut down: Option<(String, bool)> = None;
    let mut in_up = None;
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("-- migrate:") {
            let mut words = rest.split_whitespace();
            let section = words.next().unwrap_or_default();
            let in_tx = !words.any(|w| w == "transaction:false");
            match section {
                "up" if up.is_none() => {
                    up = Some((String::new(), in_tx));
                    in_up = Some(true);
                }
                "down" if down.is_none() => {
                    down = Some((String::new(), in_tx));
                    in_up = Some(false);
                }
                other => {
                    return Err(FileError::Section {
                        file: file_name(),
                        section: other.to_owned(),
                    });
                }
            }
            continue;
        }
        let target = match in_up {
            Some(true) => up.as_mut(),
            Some(false) => down.as_mut(),
            None => None,
        };
        match target {
            Some((sql, _)) => {
                sql.push_str(line);
                sql.push('\n');
            }
            None if trimmed.is_empty() || trimmed.starts_with("--") => {}
            None => return Err(FileError::SqlBeforeUp { file: file_name() }),
        }
    }
    let missing = |section| FileError::Missing {
        file: file_name(),
        section,
    };
    let (up, up_in_transaction) = up.ok_or_else(|| missing("up"))?;
    let (down, down_in_transaction) = down.ok_or_else(|| missing("down"))?;
    if up.trim().is_empty() {
        return Err(FileError::EmptyUp { file: file_name() });
    }
    Ok(Migration {
        version,
        file: file.to_owned(),
        up,
        down,
        up_in_transaction,
        down_in_transaction,
    })
}

/// The embedded migrations, oldest first.
pub fn migrations() -> Vec<Migration> {
    FILES
        .iter()
        .map(|(f, t)| parse(f, t).expect("embedded migrations are checked by a unit test"))
        .collect()
}

/// dbmate's table of applied versions.
const CREATE_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS schema_migrations (version varchar(128) PRIMARY KEY)";

/// Versions recorded in `schema_migrations` (empty when the table does not exist).
pub async fn applied(client: &Client) -> Result<Vec<String>, PgError> {
    let exists: bool = client
        .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
        .await?
        .get(0);
    if !exists {
        return Ok(Vec::new());
    }
    let rows = client
        .query(
            "SELECT version::text FROM schema_migrations ORDER BY version",
            &[],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Embedded migrations not yet applied.
pub async fn pending(client: &Client) -> Result<Vec<Migration>, PgError> {
    let done = applied(client).await?;
    Ok(migrations()
        .into_iter()
        .filter(|m| !done.contains(&m.version))
        .collect())
}

async fn locked<T>(
    client: &mut Client,
    work: impl AsyncFnOnce(&mut Client) -> Result<T, PgError>,
) -> Result<T, PgError> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&LOCK_KEY])
        .await?;
    let result = work(client).await;
    // The lock also goes when the session ends, should this fail.
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY])
        .await;
    result
}

async fn run_section(
    client: &mut Client,
    m: &Migration,
    sql: &str,
    in_transaction: bool,
    record: &str,
) -> Result<(), PgError> {
    let fail = |source| PgError::Migration {
        file: m.file.clone(),
        source,
    };
    if in_transaction {
        let tx = client.transaction().await?;
        tx.batch_execute(sql).await.map_err(fail)?;
        tx.execute(record, &[&m.version]).await.map_err(fail)?;
        tx.commit().await.map_err(fail)?;
    } else {
        client.batch_execute(sql).await.map_err(fail)?;
        client.execute(record, &[&m.version]).await.map_err(fail)?;
    }
    Ok(())
}

/// Applies every pending migration in order, each in its own transaction; returns the files
/// applied.
pub async fn up(client: &mut Client) -> Result<Vec<String>, PgError> {
    locked(client, async |client: &mut Client| {
        client.batch_execute(CREATE_TABLE).await?;
        let mut done = Vec::new();
        for m in pending(client).await? {
            run_section(
                client,
                &m,
                &m.up,
                m.up_in_transaction,
                "INSERT INTO schema_migrations (version) VALUES ($1)",
            )
            .await?;
            tracing::info!(migration = %m.file, "applied");
            done.push(m.file);
        }
        Ok(done)
    })
    .await
}

/// Rolls back the latest applied migration (as `dbmate rollback`); returns its file, or `None`
/// when nothing is applied.
pub async fn down(client: &mut Client) -> Result<Option<String>, PgError> {
    locked(client, async |client: &mut Client| {
        let done = applied(client).await?;
        let Some(last) = done.last() else {
            return Ok(None);
        };
        let Some(m) = migrations().into_iter().find(|m| &m.version == last) else {
            return Err(PgError::UnknownMigration {
                version: last.clone(),
            });
        };
        run_section(
            client,
            &m,
            &m.down,
            m.down_in_transaction,
            "DELETE FROM schema_migrations WHERE version = $1",
        )
        .await?;
        tracing::info!(migration = %m.file, "rolled back");
        Ok(Some(m.file))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_list_is_exactly_the_migrations_folder_in_order() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/db/migrations");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        on_disk.sort();
        let embedded: Vec<&str> = FILES.iter().map(|(f, _)| *f).collect();
        assert_eq!(embedded, on_disk);
        for (f, text) in FILES {
            let disk = std::fs::read_to_string(format!("{dir}/{f}")).unwrap();
            assert_eq!(&disk, text, "{f}");
        }
    }

    #[test]
    fn every_file_is_in_dbmate_format_with_a_unique_timestamp_version() {
        let ms = migrations();
        let original = [
            "20210115091009",
            "20210115091415",
            "20210115091725",
            "20210115124230",
        ];
        assert_eq!(
            ms.iter()
                .take(4)
                .map(|m| m.version.as_str())
                .collect::<Vec<_>>(),
            original,
            "the original's versions come first, unchanged"
        );
        for w in ms.windows(2) {
            assert!(
                w[0].version < w[1].version,
                "{} then {}",
                w[0].file,
                w[1].file
            );
        }
        for m in &ms {
            assert_eq!(
                m.version.len(),
                14,
                "{}: dbmate timestamps are 14 digits",
                m.file
            );
            let text = FILES.iter().find(|(f, _)| *f == m.file).unwrap().1;
            // dbmate's parser: the file starts with the up marker, then exactly one down marker.
            assert!(text.starts_with("-- migrate:up"), "{}", m.file);
            assert_eq!(text.matches("-- migrate:up").count(), 1, "{}", m.file);
            assert_eq!(text.matches("-- migrate:down").count(), 1, "{}", m.file);
            assert!(
                !m.down.trim().is_empty(),
                "{}: every migration can be rolled back",
                m.file
            );
            assert!(m.up_in_transaction && m.down_in_transaction);
        }
    }

    /// dbmate's own rules: the first line-initial `-- migrate:up` and `-- migrate:down`
    /// directives split the file, up before down, nothing but comments and blank lines before up.
    #[test]
    fn files_split_the_same_way_under_dbmates_rules() {
        let up_re = regex::Regex::new(r"(?m)^--\s*migrate:up(\s*$|\s+\S+)").unwrap();
        let down_re = regex::Regex::new(r"(?m)^--\s*migrate:down(\s*$|\s+\S+)$").unwrap();
        for (file, text) in FILES {
            let up = up_re
                .find(text)
                .unwrap_or_else(|| panic!("{file}: no up"))
                .start();
            let down = down_re
                .find(text)
                .unwrap_or_else(|| panic!("{file}: no down"))
                .start();
            assert!(up < down, "{file}");
            for line in text[..up].lines() {
                let l = line.trim();
                assert!(l.is_empty() || l.starts_with("--"), "{file}: {line}");
            }
            let m = parse(file, text).unwrap();
            // dbmate's blocks start with their directive line; the SQL after it is ours.
            let strip = |block: &str| {
                block
                    .split_once('\n')
                    .map_or("", |(_, r)| r)
                    .trim()
                    .to_owned()
            };
            assert_eq!(strip(&text[up..down]), m.up.trim(), "{file}");
            assert_eq!(strip(&text[down..]), m.down.trim(), "{file}");
        }
    }

    #[test]
    fn parser_rejects_what_dbmate_would() {
        let shown = |file, text| parse(file, text).unwrap_err().to_string();
        assert_eq!(
            shown("x.sql", "-- migrate:up\nSELECT 1;\n-- migrate:down\n"),
            "x.sql: a migration file is named VERSION_name.sql"
        );
        assert_eq!(
            shown(
                "1_x.sql",
                "SELECT 1;\n-- migrate:up\nSELECT 1;\n-- migrate:down\n"
            ),
            "1_x.sql: SQL before -- migrate:up"
        );
        assert_eq!(
            shown("1_x.sql", "-- migrate:down\nSELECT 1;\n"),
            "1_x.sql: no -- migrate:up section"
        );
        assert_eq!(
            shown("1_x.sql", "-- migrate:up\nSELECT 1;\n"),
            "1_x.sql: no -- migrate:down section"
        );
        assert_eq!(
            shown("1_x.sql", "-- migrate:up\n-- migrate:up\n"),
            "1_x.sql: unexpected or repeated -- migrate:up"
        );
        assert_eq!(
            shown("1_x.sql", "-- migrate:up\n\n-- migrate:down\nSELECT 1;\n"),
            "1_x.sql: empty -- migrate:up section"
        );
        let m = parse(
            "1_x.sql",
            "-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY i ON t (c);\n-- migrate:down\nDROP INDEX i;\n",
        )
        .unwrap();
        assert!(!m.up_in_transaction);
        assert!(m.down_in_transaction);
        assert_eq!(m.version, "1");
        assert_eq!(m.down.trim(), "DROP INDEX i;");
    }
}
