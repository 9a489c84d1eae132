use std::time::Duration;

use serde_json::json;

use super::*;
use crate::config::{EventFormat, Interval, TlsVerify};

fn defaults() -> TargetDefaults {
    TargetDefaults {
        interval: Interval::Every(Duration::from_secs(60)),
        timeout: Duration::from_secs(5),
        tls_verify: TlsVerify::Yes,
    }
}

fn editor(dir: &std::path::Path, registry: Arc<Registry>, allow_private: bool) -> Editor {
    Editor::open(
        registry,
        defaults(),
        allow_private,
        dir,
        std::sync::Arc::new(|_| Ok(())),
    )
    .unwrap()
}

fn configured() -> Target {
    let mut t = crate::config::TargetSpec {
        name: Some("from the file".into()),
        url: "http://127.0.0.1:1/".into(),
        ..Default::default()
    }
    .build(&defaults())
    .unwrap();
    t.source = Source::File;
    t
}

#[test]
fn create_replace_patch_pause_and_delete_round_trip_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new([]);
    let ed = editor(dir.path(), registry.clone(), false);
    let made = ed
        .create(&json!({"name": "api", "url": "http://127.0.0.1:2/", "tags": ["x"]}))
        .unwrap();
    let id = made.target.id.clone();
    assert_eq!(id.len(), 16);
    assert_eq!(made.target.source, Source::Api);
    let named = ed
        .create(&json!({"id": "mine", "url": "http://127.0.0.1:3/", "interval": "30s"}))
        .unwrap();
    assert_eq!(named.target.id, "mine");
    assert_eq!(
        named.target.interval,
        Interval::Every(Duration::from_secs(30))
    );

    let replaced = ed
        .replace(&id, &json!({"name": "api2", "url": "http://127.0.0.1:4/"}))
        .unwrap();
    assert_eq!(
        (replaced.target.id.as_str(), replaced.target.name.as_str()),
        (id.as_str(), "api2")
    );
    assert!(
        replaced.target.tags.is_empty(),
        "a PUT replaces the whole object"
    );
    let patched = ed.patch(&id, &json!({"timeout": 2, "name": null})).unwrap();
    assert_eq!(patched.target.timeout, Duration::from_secs(2));
    assert_eq!(patched.target.url.as_str(), "http://127.0.0.1:4/");
    ed.set_paused("mine", true).unwrap();
    assert!(registry.get("mine").unwrap().paused);

    // A restart: the same file, a new registry.
    drop(ed);
    let again = Registry::new([]);
    let ed = editor(dir.path(), again.clone(), false);
    assert_eq!(again.len(), 2);
    assert!(again.get("mine").unwrap().paused);
    assert_eq!(
        again.get(&id).unwrap().target.timeout,
        Duration::from_secs(2)
    );

    ed.delete(&id).unwrap();
    assert!(again.get(&id).is_none());
    assert!(matches!(ed.delete(&id), Err(EditError::NotFound(_))));
    drop(ed);
    let third = Registry::new([]);
    editor(dir.path(), third.clone(), false);
    assert_eq!(third.len(), 1);
}

#[test]
fn clashes_configured_targets_and_bad_input_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file_target = configured();
    let registry = Registry::new([file_target.clone()]);
    let ed = editor(dir.path(), registry.clone(), false);
    ed.create(&json!({"id": "a", "url": "http://127.0.0.1:2/"}))
        .unwrap();
    let version = registry.version();

    assert!(matches!(
        ed.create(&json!({"id": "a", "url": "http://127.0.0.1:3/"})),
        Err(EditError::Clash(_))
    ));
    assert!(matches!(
        ed.replace(&file_target.id, &json!({"url": "http://127.0.0.1:3/"})),
        Err(EditError::ReadOnly {
            defined_in: Source::File,
            ..
        })
    ));
    assert!(matches!(
        ed.delete(&file_target.id),
        Err(EditError::ReadOnly { .. })
    ));
    let invalid = |body: serde_json::Value| match ed.create(&body) {
        Err(EditError::Invalid(errors)) => errors,
        other => panic!("{body}: {other:?}"),
    };
    assert_eq!(invalid(json!({"url": "ftp://x/"}))[0].field, "url");
    assert_eq!(
        invalid(json!({"url": "http://x/", "interval": "soon"}))[0].field,
        "interval"
    );
    assert_eq!(
        invalid(json!({"url": "http://x/", "colour": "red"}))[0].field,
        "colour"
    );
    assert_eq!(invalid(json!({"name": "no url"}))[0].field, "url");
    assert_eq!(
        invalid(json!({"id": "a b", "url": "http://x/"}))[0].field,
        "id"
    );
    assert_eq!(invalid(json!(["not", "an", "object"]))[0].field, "");
    assert_eq!(invalid(json!({"url": "push://backup"}))[0].field, "url");
    assert!(matches!(
        ed.replace("a", &json!({"id": "b", "url": "http://127.0.0.1:3/"})),
        Err(EditError::Invalid(_))
    ));
    assert_eq!(registry.version(), version);
    // Configured targets may be paused all the same.
    ed.set_paused(&file_target.id, true).unwrap();
    assert!(registry.get(&file_target.id).unwrap().paused);
}

#[test]
fn link_local_and_metadata_addresses_are_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let ed = editor(dir.path(), Registry::new([]), false);
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/",
        "http://100.100.100.200/",
        "http://[fd00:ec2::254]/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "tcp://169.254.0.1:22",
        "icmp://[::ffff:169.254.1.1]",
    ] {
        match ed.create(&json!({ "url": url })) {
            Err(EditError::Invalid(e)) => {
                assert_eq!(e[0].field, "url");
                assert!(
                    e[0].message.contains("allow_private_targets"),
                    "{}",
                    e[0].message
                );
            }
            other => panic!("{url}: {other:?}"),
        }
    }
    ed.create(&json!({"url": "http://127.0.0.1:8080/"}))
        .unwrap();
    ed.create(&json!({"url": "http://10.0.0.1/"})).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let open = editor(dir.path(), Registry::new([]), true);
    open.create(&json!({"url": "http://169.254.169.254/"}))
        .unwrap();
}

#[test]
fn merge_patch_follows_rfc_7386() {
    // The RFC's own example (appendix A, abridged).
    let mut doc = json!({"a": "b", "c": {"d": "e", "f": "g"}, "t": [1]});
    merge_patch(
        &mut doc,
        &json!({"a": "z", "c": {"f": null}, "t": [2, 3], "n": {"x": 1}}),
    );
    assert_eq!(
        doc,
        json!({"a": "z", "c": {"d": "e"}, "t": [2, 3], "n": {"x": 1}})
    );
}

#[test]
fn a_file_that_cannot_be_written_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // DATA_DIR is a file: the save fails.
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let registry = Registry::new([]);
    let ed = editor(&data, registry.clone(), false);
    std::fs::remove_dir(&data).unwrap();
    std::fs::write(&data, "in the way").unwrap();
    assert!(matches!(
        ed.create(&json!({"url": "http://127.0.0.1:2/"})),
        Err(EditError::Save(_))
    ));
    assert!(registry.is_empty());
}

#[test]
fn one_shot_intervals_and_kinds_the_event_format_cannot_carry_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ed = editor(dir.path(), Registry::new([]), false).with_format(EventFormat::Original);
    let field = |body: serde_json::Value| match ed.create(&body) {
        Err(EditError::Invalid(e)) => e[0].field.clone(),
        other => panic!("{body}: {other:?}"),
    };
    assert_eq!(
        field(json!({"url": "http://127.0.0.1:1/", "interval": -1})),
        "interval"
    );
    assert_eq!(field(json!({"url": "tcp://127.0.0.1:5432"})), "url");
    ed.create(&json!({"url": "http://127.0.0.1:1/"})).unwrap();
    // A stale entry of the saved file (left out at a start) still holds its id.
    let dir = tempfile::tempdir().unwrap();
    let stale = Saved {
        version: 1,
        targets: vec![json!({"id": "x", "url": "not a url"})],
        paused: vec![],
    };
    crate::registry::saved::store(&crate::registry::saved::path(dir.path()), &stale).unwrap();
    let ed = editor(dir.path(), Registry::new([]), false);
    assert!(matches!(
        ed.create(&json!({"id": "x", "url": "http://127.0.0.1:1/"})),
        Err(EditError::Clash(_))
    ));
}
