//! The board on tokio's paused clock: pushes make events at once, silence makes one
//! `push_missed` event per interval, tokens and the last push survive a reopen.

use super::*;
use crate::config::TlsVerify;
use crate::config::checks::CheckSections;
use crate::config::target::{TargetDefaults, TargetSpec};

const MINUTE: Duration = Duration::from_secs(60);
const TOKEN: &str = "given-token-0123456789";

fn target(name: &str, token: Option<&str>, grace: Option<Duration>) -> Target {
    let spec = TargetSpec {
        url: format!("push://{name}"),
        check: CheckSections {
            token: token.map(str::to_owned),
            grace,
            ..Default::default()
        },
        ..Default::default()
    };
    spec.build(&TargetDefaults {
        interval: Interval::Every(MINUTE),
        timeout: Duration::from_secs(5),
        tls_verify: TlsVerify::Yes,
    })
    .unwrap()
}

fn start() -> OffsetDateTime {
    time::macros::datetime!(2026-03-01 12:00 UTC)
}

fn open(dir: &Path, targets: &[Target]) -> (Arc<PushBoard>, mpsc::Receiver<ProbeEvent>) {
    PushBoard::open(targets, dir, Clock::following_tokio(start()), None).unwrap()
}

fn up() -> Push {
    Push {
        up: true,
        msg: None,
        ping_ms: None,
    }
}

/// The events the watcher sends within `span` of paused time.
async fn watched(
    board: &Arc<PushBoard>,
    rx: &mut mpsc::Receiver<ProbeEvent>,
    span: Duration,
) -> Vec<ProbeEvent> {
    let stop = CancellationToken::new();
    let task = tokio::spawn(board.clone().watch(stop.clone()));
    tokio::time::sleep(span).await;
    stop.cancel();
    task.await.unwrap();
    let mut out = Vec::new();
    while let Ok(e) = rx.try_recv() {
        out.push(e);
    }
    out
}

#[tokio::test(start_paused = true)]
async fn a_push_makes_an_event_at_once_with_its_message_and_ping() {
    let dir = tempfile::tempdir().unwrap();
    let t = target("backup", Some(TOKEN), None);
    let (board, mut rx) = open(dir.path(), std::slice::from_ref(&t));
    board
        .push(
            TOKEN,
            Push {
                up: true,
                msg: Some("42 files".into()),
                ping_ms: Some(17),
            },
        )
        .await
        .unwrap();
    let e = rx.try_recv().unwrap();
    assert_eq!(e.up, Some(true));
    assert_eq!(e.protocol, "push");
    assert_eq!(
        (e.hostname.as_str(), e.port, e.status_code),
        ("", None, None)
    );
    assert_eq!(e.response_time_ms, 17);
    assert_eq!(e.push.unwrap().msg.as_deref(), Some("42 files"));
    assert_eq!(e.target.as_deref(), Some(t.id.as_str()));
    assert_eq!(e.url.as_deref(), Some("push://backup"));
    assert_eq!(e.error, None);

    board
        .push(
            TOKEN,
            Push {
                up: false,
                msg: Some("disk full".into()),
                ping_ms: None,
            },
        )
        .await
        .unwrap();
    let e = rx.try_recv().unwrap();
    assert_eq!(e.up, Some(false));
    assert_eq!(e.error_kind, Some(ErrorKind::Condition));
    assert_eq!(e.error.as_deref(), Some("disk full"));
    assert_eq!(e.response_time_ms, 0);
    assert_eq!(
        board.push("not-a-token", up()).await,
        Err(Refused::UnknownToken)
    );
}

#[tokio::test(start_paused = true)]
async fn silence_past_interval_and_grace_is_missed_then_once_per_interval() {
    let dir = tempfile::tempdir().unwrap();
    let (board, mut rx) = open(dir.path(), &[target("cron", Some(TOKEN), None)]);
    // Interval 1 min, grace 1 min: nothing before 2 minutes.
    let early = watched(&board, &mut rx, MINUTE * 2 - Duration::from_secs(1)).await;
    assert!(early.is_empty(), "{early:?}");
    // Then one at 2 min and one a minute for the next ten: eleven, not a storm.
    let missed = watched(&board, &mut rx, MINUTE * 10 + Duration::from_secs(2)).await;
    assert_eq!(missed.len(), 11, "{missed:?}");
    for e in &missed {
        assert_eq!(e.up, Some(false));
        assert_eq!(e.error_kind, Some(ErrorKind::PushMissed));
        let msg = e.error.as_deref().unwrap();
        assert!(
            msg.contains("since the start at 2026-03-01T12:00:00Z"),
            "{msg}"
        );
    }
    assert_eq!(
        missed[0].envelope.event_time,
        start() + MINUTE * 2,
        "the first at the deadline"
    );
    // A push moves the deadline: nothing for interval + grace after it.
    board.push(TOKEN, up()).await.unwrap();
    let after = watched(&board, &mut rx, MINUTE * 2 - Duration::from_secs(1)).await;
    assert_eq!(after.len(), 1, "only the push's own event: {after:?}");
    assert_eq!(after[0].up, Some(true));
    let missed = watched(&board, &mut rx, Duration::from_secs(2)).await;
    assert_eq!(missed.len(), 1);
    let msg = missed[0].error.as_deref().unwrap();
    assert!(
        msg.contains("since the last one at 2026-03-01T12:1"),
        "{msg}"
    );
}

#[tokio::test(start_paused = true)]
async fn grace_is_the_targets_own_when_given() {
    let dir = tempfile::tempdir().unwrap();
    let t = target("quick", Some(TOKEN), Some(Duration::from_secs(5)));
    let (board, mut rx) = open(dir.path(), &[t]);
    assert!(
        watched(&board, &mut rx, Duration::from_secs(64))
            .await
            .is_empty()
    );
    assert_eq!(
        watched(&board, &mut rx, Duration::from_secs(2)).await.len(),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn a_generated_token_is_stored_once_and_the_same_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let t = target("nightly", None, None);
    let (board, _rx) = open(dir.path(), std::slice::from_ref(&t));
    let token = board.token_of(&t.id).unwrap().to_owned();
    assert!(token.len() >= 43, "{token}");
    assert!(
        token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    );
    drop(board);
    let (again, _rx) = open(dir.path(), std::slice::from_ref(&t));
    assert_eq!(again.token_of(&t.id), Some(token.as_str()));
    // Another target gets another token; a configured token is used as given.
    let other = target("weekly", None, None);
    let given = target("given", Some(TOKEN), None);
    let (b, _rx) = open(dir.path(), &[t.clone(), other.clone(), given.clone()]);
    assert_eq!(b.token_of(&t.id), Some(token.as_str()));
    assert_ne!(b.token_of(&other.id), Some(token.as_str()));
    assert_eq!(b.token_of(&given.id), Some(TOKEN));
    assert!(
        format!("{b:?}").find(&token).is_none(),
        "Debug shows no token"
    );
}

#[tokio::test(start_paused = true)]
async fn the_last_push_survives_a_restart_and_the_deadline_counts_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let t = target("cron", Some(TOKEN), None);
    let (board, mut rx) = open(dir.path(), std::slice::from_ref(&t));
    board
        .push(
            TOKEN,
            Push {
                up: false,
                msg: Some("exit 3".into()),
                ping_ms: None,
            },
        )
        .await
        .unwrap();
    let _ = rx.try_recv();
    drop(board);
    let saved = file::load(&file::path(dir.path())).unwrap();
    let last = saved.targets[&t.id].last.clone().unwrap();
    assert_eq!((last.up, last.msg.as_deref()), (false, Some("exit 3")));
    assert_eq!(last.at, start());

    // Restarted 30 s after that push: due 2 min after the push, not 2 min after the start.
    tokio::time::sleep(Duration::from_secs(30)).await;
    let clock = Clock::following_tokio(start() + Duration::from_secs(30));
    let (board, mut rx) =
        PushBoard::open(std::slice::from_ref(&t), dir.path(), clock, None).unwrap();
    let early = watched(&board, &mut rx, Duration::from_secs(89)).await;
    assert!(early.is_empty(), "{early:?}");
    let missed = watched(&board, &mut rx, Duration::from_secs(2)).await;
    assert_eq!(missed.len(), 1);
    let msg = missed[0].error.as_deref().unwrap();
    assert!(
        msg.contains("since the last one at 2026-03-01T12:00:00Z (status down)"),
        "{msg}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_token_pushing_too_often_is_refused_with_when_to_retry() {
    let dir = tempfile::tempdir().unwrap();
    let (board, _rx) = open(dir.path(), &[target("loop", Some(TOKEN), None)]);
    for _ in 0..BURST as usize {
        board.push(TOKEN, up()).await.unwrap();
    }
    match board.push(TOKEN, up()).await {
        Err(Refused::TooMany { retry_after }) => {
            assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_secs(6))
        }
        other => panic!("{other:?}"),
    }
    tokio::time::sleep(Duration::from_secs(6)).await;
    board.push(TOKEN, up()).await.unwrap();
}

#[test]
fn a_query_gives_status_msg_and_ping_and_hostile_input_is_tamed() {
    let p = Push::from_query("status=down&msg=disk%20full&ping=12.6").unwrap();
    assert_eq!(
        p,
        Push {
            up: false,
            msg: Some("disk full".into()),
            ping_ms: Some(13)
        }
    );
    assert_eq!(Push::from_query("").unwrap(), up());
    // Percent-encoding that does not decode is kept as written; bytes that are not UTF-8 and
    // control characters are made harmless.
    let p = Push::from_query("msg=100%zz%ff%0Anext").unwrap();
    assert_eq!(p.msg.as_deref(), Some("100%zz\u{fffd} next"));
    // 5 KB of two-byte characters: cut at a character boundary.
    let long = "é".repeat(2600);
    let p = Push::from_query(&format!("msg={long}")).unwrap();
    let msg = p.msg.unwrap();
    assert!(msg.len() <= MAX_MSG_BYTES, "{}", msg.len());
    assert!(msg.ends_with('…'));
    let e = Push::from_query("status=sideways").unwrap_err();
    assert!(e.contains("status: expected up or down"), "{e}");
    for bad in ["ping=fast", "ping=-1", "ping=NaN", "ping=1e30"] {
        let e = Push::from_query(bad).unwrap_err();
        assert!(e.starts_with("ping: expected"), "{bad}: {e}");
    }
}
