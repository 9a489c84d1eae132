use std::time::Duration;

use super::*;
use crate::config::target::{TargetDefaults, TargetSpec};
use crate::config::{Interval, TlsVerify};

fn target(name: &str, url: &str) -> Target {
    target_from(name, url, Source::File)
}

fn target_from(name: &str, url: &str, source: Source) -> Target {
    let mut t = TargetSpec {
        name: Some(name.into()),
        url: url.into(),
        ..Default::default()
    }
    .build(&TargetDefaults {
        interval: Interval::Every(Duration::from_secs(60)),
        timeout: Duration::from_secs(5),
        tls_verify: TlsVerify::Yes,
    })
    .unwrap();
    t.source = source;
    t
}

fn upsert(t: Target) -> Change {
    Change::Upsert(Arc::new(t))
}

#[test]
fn changes_get_versions_and_followers_see_every_one_after_their_snapshot() {
    let a = target("a", "http://127.0.0.1:1/");
    let registry = Registry::new([a.clone()]);
    assert_eq!((registry.version(), registry.len()), (1, 1));
    let (snapshot, mut rx) = registry.follow();
    assert_eq!(snapshot.len(), 1);

    let b = target("b", "http://127.0.0.1:2/");
    let u = registry.apply(vec![upsert(b.clone())]).unwrap();
    assert_eq!(u.version, 2);
    registry.apply(vec![Change::Pause(b.id.clone())]).unwrap();
    registry.apply(vec![Change::Remove(a.id.clone())]).unwrap();

    let got: Vec<(u64, String, bool, bool)> = std::iter::from_fn(|| rx.try_recv().ok())
        .flat_map(|u| {
            u.changes
                .iter()
                .map(|c| {
                    let e = c.entry();
                    (
                        u.version,
                        e.target.name.clone(),
                        e.paused,
                        matches!(c, Applied::Remove(_)),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (2, "b".into(), false, false),
            (3, "b".into(), true, false),
            (4, "a".into(), false, true),
        ]
    );
    assert!(registry.get(&b.id).unwrap().paused);
    assert!(registry.get(&a.id).is_none());
}

#[test]
fn a_batch_is_all_or_nothing_and_no_op_changes_keep_the_version() {
    let a = target("a", "http://127.0.0.1:1/");
    let registry = Registry::new([a.clone()]);
    let b = target("b", "http://127.0.0.1:2/");
    let err = registry
        .apply(vec![upsert(b.clone()), Change::Remove("nope".into())])
        .unwrap_err();
    assert_eq!(err, RegistryError::NotFound("nope".into()));
    assert!(registry.get(&b.id).is_none());
    assert_eq!(registry.version(), 1);

    // The same target again, a resume of a running one: nothing changes.
    let u = registry
        .apply(vec![upsert(a.clone()), Change::Resume(a.id.clone())])
        .unwrap();
    assert!(u.changes.is_empty());
    assert_eq!(registry.version(), 1);

    // Removed and added back within one batch.
    let u = registry
        .apply(vec![Change::Remove(a.id.clone()), upsert(a.clone())])
        .unwrap();
    assert_eq!(u.changes.len(), 2);
    assert_eq!(registry.version(), 2);
}

#[test]
fn an_upsert_keeps_a_pause_and_replaces_the_target() {
    let a = target_from("a", "http://127.0.0.1:1/", Source::Api);
    let registry = Registry::new([a.clone()]);
    registry.apply(vec![Change::Pause(a.id.clone())]).unwrap();
    let mut changed = a.clone();
    changed.profile_mut().timeout = Duration::from_secs(1);
    registry.apply(vec![upsert(changed)]).unwrap();
    let e = registry.get(&a.id).unwrap();
    assert!(e.paused);
    assert_eq!(e.target.timeout, Duration::from_secs(1));
    assert_eq!(e.version, 3);
}

#[test]
fn a_follower_that_went_away_is_dropped() {
    let registry = Registry::new([]);
    let (_, rx) = registry.follow();
    drop(rx);
    registry
        .apply(vec![upsert(target("a", "http://127.0.0.1:1/"))])
        .unwrap();
    assert!(registry.followers.lock().unwrap().is_empty());
}
