//! The incidents people write on status pages, kept by both stores alike (`StatusBook`): the
//! same story on a real SQLite file and on a real PostgreSQL database, each opened as
//! `uptimer serve` opens it (PostgreSQL's sessions read-only). An incident opens with its first
//! update; updates append in order, replace impact and components when given, and the one
//! that says resolved sets `resolved_at`; lists are per page, newest first, with the resolved
//! ones since a time; concurrent updates all land; `status_incidents_changed` follows them.

mod support;

use futures_util::future::join_all;
use uptimer::config::StoreSettings;
use uptimer::store::status::{
    Affected, Impact, NewIncident, NewUpdate, StatusBook, StatusIncident, UpdateStatus,
};
use uptimer::store::{MIN_TIME, Micros, PostgresStore, SECOND, SqliteStore};

use support::pg::{TestDb, migrated};

const T0: Micros = 1_800_000_000 * SECOND;

fn affected(component: &str, status: &str) -> Affected {
    Affected {
        component: component.into(),
        status: status.into(),
    }
}

fn opening(page: &str, title: &str) -> NewIncident {
    NewIncident {
        page: page.into(),
        title: title.into(),
        impact: Impact::default(),
        components: Vec::new(),
        status: UpdateStatus::Investigating,
        body: "We are looking into it.".into(),
        author: None,
    }
}

fn update(status: UpdateStatus, body: &str) -> NewUpdate {
    NewUpdate {
        status,
        body: body.into(),
        impact: None,
        components: None,
        author: None,
    }
}

fn ids(list: &[StatusIncident]) -> Vec<i64> {
    list.iter().map(|i| i.id).collect()
}

fn statuses(i: &StatusIncident) -> Vec<UpdateStatus> {
    i.updates.iter().map(|u| u.status).collect()
}

/// The story both stores must tell alike.
async fn keeps_status_incidents(book: &dyn StatusBook) {
    assert_eq!(book.status_incidents_changed().await.unwrap(), 0, "empty");
    assert_eq!(book.status_incident(4242).await.unwrap(), None);
    assert_eq!(
        book.update_status_incident(4242, update(UpdateStatus::Identified, "x"), T0)
            .await
            .unwrap(),
        None,
        "no such incident"
    );

    // Opened with its first update, as written (hostile text and Markdown kept as is).
    let title = "API <errors> \"quoted\" – ünïcode";
    let body = "We are **looking** into it.\n\n- item <script>alert(1)</script>\n";
    let a = book
        .open_status_incident(
            NewIncident {
                title: title.into(),
                impact: Impact::Major,
                components: vec![affected("API", "major_outage")],
                body: body.into(),
                author: Some("ana".into()),
                ..opening("main", "")
            },
            T0,
        )
        .await
        .unwrap();
    assert_eq!(
        (a.page.as_str(), a.title.as_str(), a.impact),
        ("main", title, Impact::Major)
    );
    assert_eq!(a.components, [affected("API", "major_outage")]);
    assert_eq!((a.created_at, a.updated_at, a.resolved_at), (T0, T0, None));
    assert_eq!(a.updates.len(), 1);
    assert_eq!(a.updates[0].body, body);
    assert_eq!(a.updates[0].at, T0);
    assert_eq!(a.updates[0].author.as_deref(), Some("ana"));
    assert_eq!(a.status(), UpdateStatus::Investigating);
    assert_eq!(book.status_incident(a.id).await.unwrap().as_ref(), Some(&a));
    assert_eq!(book.status_incidents_changed().await.unwrap(), T0);

    let b = book
        .open_status_incident(opening("main", "Slow database"), T0 + 10 * SECOND)
        .await
        .unwrap();
    assert_eq!(b.impact, Impact::Minor, "the default impact");
    let elsewhere = book
        .open_status_incident(opening("other", "Elsewhere"), T0 + 20 * SECOND)
        .await
        .unwrap();
    assert!(a.id != b.id && b.id != elsewhere.id);

    // Updates append in order; impact and components stay unless given.
    let a1 = book
        .update_status_incident(
            a.id,
            update(UpdateStatus::Identified, "A bad deploy."),
            T0 + 60 * SECOND,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        statuses(&a1),
        [UpdateStatus::Investigating, UpdateStatus::Identified]
    );
    assert_eq!(a1.impact, Impact::Major);
    assert_eq!(a1.components, a.components);
    assert_eq!((a1.created_at, a1.updated_at), (T0, T0 + 60 * SECOND));
    let a2 = book
        .update_status_incident(
            a.id,
            NewUpdate {
                impact: Some(Impact::Minor),
                components: Some(vec![
                    affected("API", "degraded_performance"),
                    affected("Web", "operational"),
                ]),
                author: Some("bo".into()),
                ..update(UpdateStatus::Monitoring, "Rolled back; watching.")
            },
            T0 + 120 * SECOND,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a2.impact, Impact::Minor, "replaced");
    assert_eq!(
        a2.components,
        [
            affected("API", "degraded_performance"),
            affected("Web", "operational")
        ]
    );
    assert_eq!(a2.resolved_at, None);
    assert_eq!(
        book.status_incidents_changed().await.unwrap(),
        T0 + 120 * SECOND
    );

    // The update that says resolved sets resolved_at; what the store returns is what it keeps.
    let a3 = book
        .update_status_incident(
            a.id,
            update(UpdateStatus::Resolved, "Fixed."),
            T0 + 180 * SECOND,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a3.resolved_at, Some(T0 + 180 * SECOND));
    assert_eq!(a3.status(), UpdateStatus::Resolved);
    assert_eq!(
        statuses(&a3),
        [
            UpdateStatus::Investigating,
            UpdateStatus::Identified,
            UpdateStatus::Monitoring,
            UpdateStatus::Resolved
        ]
    );
    let bodies: Vec<&str> = a3.updates.iter().map(|u| u.body.as_str()).collect();
    assert_eq!(
        bodies,
        [body, "A bad deploy.", "Rolled back; watching.", "Fixed."]
    );
    assert_eq!(a3.updates[2].author.as_deref(), Some("bo"));
    assert_eq!(
        book.status_incident(a.id).await.unwrap().as_ref(),
        Some(&a3)
    );
    assert_eq!(
        book.status_incidents_changed().await.unwrap(),
        T0 + 180 * SECOND
    );

    // Per page, newest first; the resolved ones only when resolved at or after the time.
    let list = |page: &'static str, since: Micros, limit: u32| async move {
        book.status_incidents(page, since, limit).await.unwrap()
    };
    assert_eq!(ids(&list("main", MIN_TIME, 50).await), [b.id, a.id]);
    assert_eq!(list("main", MIN_TIME, 50).await[1], a3);
    assert_eq!(
        ids(&list("main", T0 + 180 * SECOND, 50).await),
        [b.id, a.id]
    );
    assert_eq!(
        ids(&list("main", T0 + 181 * SECOND, 50).await),
        [b.id],
        "resolved before: left out; unresolved: always in"
    );
    assert_eq!(ids(&list("main", MIN_TIME, 1).await), [b.id], "limit");
    assert_eq!(ids(&list("other", MIN_TIME, 50).await), [elsewhere.id]);
    assert!(list("none", MIN_TIME, 50).await.is_empty());

    // Updates posted at once all land, none lost, each once.
    let posted = join_all((0..8).map(|n| {
        book.update_status_incident(
            b.id,
            update(UpdateStatus::Identified, &format!("note {n}")),
            T0 + (200 + n) * SECOND,
        )
    }))
    .await;
    assert!(
        posted.iter().all(|r| matches!(r, Ok(Some(_)))),
        "{posted:?}"
    );
    let b8 = book.status_incident(b.id).await.unwrap().unwrap();
    assert_eq!(b8.updates.len(), 9, "{:?}", b8.updates);
    let mut notes: Vec<&str> = b8.updates[1..].iter().map(|u| u.body.as_str()).collect();
    notes.sort_unstable();
    assert_eq!(
        notes,
        (0..8).map(|n| format!("note {n}")).collect::<Vec<_>>()
    );
    assert_eq!(b8.updated_at, T0 + 207 * SECOND);

    // resolved_at is set exactly while the latest update says resolved (a reopening, which
    // the API refuses, clears it; resolving again sets it anew).
    let reopened = book
        .update_status_incident(
            a.id,
            update(UpdateStatus::Monitoring, "Back again."),
            T0 + 300 * SECOND,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reopened.resolved_at, None);
    let again = book
        .update_status_incident(
            a.id,
            update(UpdateStatus::Resolved, "Fixed again."),
            T0 + 360 * SECOND,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.resolved_at, Some(T0 + 360 * SECOND));

    // An incident written after it was over is resolved from its first update.
    let past = book
        .open_status_incident(
            NewIncident {
                status: UpdateStatus::Resolved,
                ..opening("main", "Yesterday's outage")
            },
            T0 + 400 * SECOND,
        )
        .await
        .unwrap();
    assert_eq!(past.resolved_at, Some(T0 + 400 * SECOND));
    assert_eq!(
        book.status_incidents_changed().await.unwrap(),
        T0 + 400 * SECOND
    );
}

#[tokio::test]
async fn the_sqlite_store_keeps_status_incidents_and_keeps_them_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let settings = StoreSettings::with_path(dir.path().join("uptimer.sqlite3"));
    let store = SqliteStore::open(&settings).unwrap();
    keeps_status_incidents(&store).await;
    let before = store.status_incidents("main", MIN_TIME, 50).await.unwrap();
    store.close().await.unwrap();

    let reopened = SqliteStore::open(&settings).unwrap();
    assert_eq!(
        reopened
            .status_incidents("main", MIN_TIME, 50)
            .await
            .unwrap(),
        before
    );
    assert_eq!(
        reopened.status_incidents_changed().await.unwrap(),
        T0 + 400 * SECOND
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn postgresql_keeps_status_incidents_as_the_sqlite_store_does() {
    let db = TestDb::new().await;
    let _migrated = migrated(&db.url).await;
    // Opened as `serve --store postgres://…` opens it: read-only sessions, pooled.
    let store = PostgresStore::open(&db.url, None, 4).await.unwrap();
    let book = store.status_book();
    keeps_status_incidents(&book).await;
    let c = db.client().await;
    let (n, resolved): (i64, i64) = {
        let r = c
            .query_one(
                "SELECT count(*), count(resolved_at) FROM status_incidents",
                &[],
            )
            .await
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!((n, resolved), (4, 2));
    let doc: serde_json::Value = c
        .query_one("SELECT doc FROM status_incidents WHERE page = 'other'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(doc["title"], "Elsewhere");
    assert_eq!(doc["updates"][0]["status"], "investigating");
}
