use super::*;

use time::macros::datetime;

const T0: OffsetDateTime = datetime!(2026-12-01 12:00:00 UTC);
const MIN: Duration = Duration::from_secs(60);

/// The time `s` seconds after `T0`.
fn at(s: i64) -> OffsetDateTime {
    T0 + time::Duration::seconds(s)
}

fn check(s: i64, up: bool) -> Check {
    Check {
        time: at(s),
        uuid: Uuid::new_v4(),
        up,
        degraded: false,
    }
}

fn result(s: i64, up: bool) -> Input {
    Input::Result(check(s, up))
}

/// A passing result that met one of its target's `degraded_if` conditions.
fn degraded(s: i64) -> Input {
    Input::Result(Check {
        degraded: true,
        ..check(s, true)
    })
}

/// Applies results (`u` passed, `g` passed but degraded, `d` failed; one a minute from `T0`)
/// and returns the state and every transition.
fn run(strip: &str) -> (TargetState, Vec<Transition>) {
    let mut st = TargetState::default();
    let mut all = Vec::new();
    for (i, c) in strip.chars().enumerate() {
        let s = 60 * i as i64;
        let input = if c == 'g' {
            degraded(s)
        } else {
            result(s, c == 'u')
        };
        all.extend(st.apply(input, T0));
    }
    (st, all)
}

/// The status changes among `transitions`, in order.
fn statuses(transitions: &[Transition]) -> Vec<Status> {
    transitions
        .iter()
        .filter_map(|t| match t {
            Transition::Status { to, .. } => Some(*to),
            _ => None,
        })
        .collect()
}

fn status(from: Status, to: Status) -> Transition {
    Transition::Status { from, to }
}

/// The incident opened `started` seconds after `T0` closed `at` seconds after it.
fn closed(started: i64, at_s: i64, reason: EndReason) -> Transition {
    Transition::IncidentClosed {
        started: at(started),
        at: at(at_s),
        reason,
    }
}

#[test]
fn status_follows_the_latest_results() {
    assert_eq!(Status::of_recent(""), Status::Unknown);
    assert_eq!(Status::of_recent("uuud"), Status::Down);
    assert_eq!(Status::of_recent("uuuu"), Status::Up);
    assert_eq!(Status::of_recent("uudu"), Status::Flapping);
    // The window is the last ten results, the latest included.
    assert_eq!(Status::of_recent("duuuuuuuuu"), Status::Flapping);
    assert_eq!(Status::of_recent("duuuuuuuuuu"), Status::Up);
}

#[test]
fn names_round_trip() {
    for s in Status::ALL {
        assert_eq!(Status::parse(s.as_str()), Some(s));
    }
    assert_eq!(Status::parse("degraded"), Some(Status::Degraded));
    assert_eq!(Status::parse("Degraded"), None);
    assert_eq!(Status::default(), Status::Unknown);
    assert!(Status::Degraded.is_up(), "degraded passed: it is up");
}

#[test]
fn a_first_passing_result_is_up_and_opens_nothing() {
    let (st, tr) = run("u");
    assert_eq!(st.status, Status::Up);
    assert_eq!(tr, [status(Status::Unknown, Status::Up)]);
    assert_eq!(st.incident, None);
    assert_eq!(st.recent.to_string(), "u");
}

#[test]
fn the_first_failed_result_opens_an_incident_and_the_next_success_closes_it() {
    let mut st = TargetState::default();
    assert_eq!(
        st.apply(result(0, true), T0),
        [status(Status::Unknown, Status::Up)]
    );
    assert_eq!(
        st.apply(result(60, false), T0),
        [
            status(Status::Up, Status::Down),
            Transition::IncidentOpened { at: at(60) }
        ]
    );
    assert_eq!(st.incident, Some(at(60)));
    assert_eq!(
        st.apply(result(120, false), T0),
        [Transition::IncidentFailedAgain { started: at(60) }],
        "down again: no status change, one more failed check"
    );
    assert_eq!(
        st.apply(result(180, true), T0),
        [
            status(Status::Down, Status::Flapping),
            closed(60, 180, EndReason::Passed)
        ]
    );
    assert_eq!(st.incident, None);
    assert_eq!(st.recent.to_string(), "uddu");
}

#[test]
fn a_first_result_that_fails_is_down_with_an_incident() {
    let (st, tr) = run("d");
    assert_eq!(
        tr,
        [
            status(Status::Unknown, Status::Down),
            Transition::IncidentOpened { at: T0 }
        ]
    );
    assert_eq!(st.status, Status::Down);
}

#[test]
fn flapping_lasts_ten_results_after_the_last_failure_then_up() {
    let (st, _) = run("ud");
    let mut st = st;
    let mut seen = Vec::new();
    for i in 2..12 {
        for t in st.apply(result(60 * i, true), T0) {
            if let Transition::Status { to, .. } = t {
                seen.push((i, to));
            }
        }
    }
    // The failure at index 1 leaves the window of ten with the result at index 11.
    assert_eq!(seen, [(2, Status::Flapping), (11, Status::Up)]);
    assert_eq!(st.status, Status::Up);
}

#[test]
fn flapping_to_down_and_up_to_flapping_are_transitions() {
    let (_, tr) = run("udud");
    assert_eq!(
        statuses(&tr),
        [Status::Up, Status::Down, Status::Flapping, Status::Down]
    );
}

#[test]
fn the_strip_keeps_the_last_thirty_results() {
    let strip = format!("d{}", "u".repeat(RECENT_CHECKS));
    let (st, _) = run(&strip);
    assert_eq!(st.recent.len(), RECENT_CHECKS);
    assert!(!st.recent.to_string().contains('d'));
}

#[test]
fn no_result_for_three_intervals_and_the_grace_is_unknown() {
    let (mut st, _) = run("u");
    let tick = Input::Tick { interval: MIN };
    let due = at(180) + UNKNOWN_GRACE;
    assert_eq!(st.unknown_at(MIN), Some(due));
    assert_eq!(
        st.apply(tick, due - time::Duration::milliseconds(1)),
        [],
        "not yet"
    );
    assert_eq!(st.status, Status::Up);
    assert_eq!(st.apply(tick, due), [status(Status::Up, Status::Unknown)]);
    assert_eq!(st.apply(tick, due + MIN * 10), [], "told once");
    assert_eq!(st.unknown_at(MIN), None);
    // The next result makes it known again.
    assert_eq!(
        st.apply(result(1000, true), T0),
        [status(Status::Unknown, Status::Up)]
    );
}

#[test]
fn a_tick_never_makes_a_never_checked_target_anything() {
    let mut st = TargetState::default();
    assert_eq!(st.apply(Input::Tick { interval: MIN }, at(86_400)), []);
    assert_eq!(st, TargetState::default());
}

#[test]
fn unknown_keeps_the_open_incident_until_a_passing_result() {
    let (mut st, _) = run("ud");
    st.apply(Input::Tick { interval: MIN }, at(3600));
    assert_eq!(st.status, Status::Unknown);
    assert_eq!(st.incident, Some(at(60)), "silence ends no incident");
    assert_eq!(
        st.apply(result(4000, false), T0),
        [
            status(Status::Unknown, Status::Down),
            Transition::IncidentFailedAgain { started: at(60) }
        ]
    );
    let tr = st.apply(result(4060, true), T0);
    assert!(tr.contains(&closed(60, 4060, EndReason::Passed)), "{tr:?}");
}

#[test]
fn an_interval_beyond_the_calendar_never_turns_unknown_nor_panics() {
    let (mut st, _) = run("u");
    let huge = Duration::from_secs(u64::MAX / 2);
    assert_eq!(st.unknown_at(huge), None);
    assert_eq!(
        st.apply(Input::Tick { interval: huge }, at(86_400 * 365 * 7000)),
        []
    );
    assert_eq!(st.status, Status::Up);
}

#[test]
fn pause_closes_the_open_incident_and_ignores_results_until_resumed() {
    let (mut st, _) = run("ud");
    assert_eq!(
        st.apply(Input::Pause, at(300)),
        [
            status(Status::Down, Status::Paused),
            closed(60, 300, EndReason::Paused)
        ]
    );
    assert_eq!(st.incident, None);
    assert_eq!(st.apply(Input::Pause, at(310)), [], "paused twice: once");
    let before = st;
    let c = check(400, false);
    assert_eq!(st.takes(&c), Err(Skip::Paused));
    assert_eq!(st.apply(Input::Result(c), T0), []);
    assert_eq!(
        st.apply(Input::Tick { interval: MIN }, at(86_400)),
        [],
        "a paused target does not turn unknown"
    );
    assert_eq!(st, before, "nothing moved while paused");

    assert_eq!(
        st.apply(Input::Resume, at(500)),
        [status(Status::Paused, Status::Unknown)]
    );
    assert_eq!(st.apply(Input::Resume, at(510)), [], "not paused: nothing");
    assert_eq!(
        st.apply(result(600, false), T0),
        [
            status(Status::Unknown, Status::Down),
            Transition::IncidentOpened { at: at(600) }
        ],
        "a failure after resuming opens a new incident"
    );
}

#[test]
fn pausing_at_a_time_before_the_incident_ends_it_at_its_start() {
    let (mut st, _) = run("ud");
    let tr = st.apply(Input::Pause, at(0));
    assert!(tr.contains(&closed(60, 60, EndReason::Paused)), "{tr:?}");
}

#[test]
fn a_paused_up_target_pauses_without_incident() {
    let (mut st, _) = run("u");
    assert_eq!(
        st.apply(Input::Pause, at(60)),
        [status(Status::Up, Status::Paused)]
    );
}

#[test]
fn a_duplicate_changes_nothing() {
    let mut st = TargetState::default();
    let c = check(0, false);
    st.apply(Input::Result(c), T0);
    let before = st;
    assert_eq!(st.takes(&c), Err(Skip::Duplicate));
    assert_eq!(st.apply(Input::Result(c), T0), []);
    assert_eq!(st, before, "no second failed check, no strip entry");
}

#[test]
fn an_older_result_is_history_and_changes_nothing() {
    let (mut st, _) = run("uu");
    let before = st;
    let late = check(30, false);
    assert_eq!(st.takes(&late), Err(Skip::Older));
    assert_eq!(st.apply(Input::Result(late), T0), []);
    assert_eq!(st, before, "a late failure opens no incident");
}

#[test]
fn results_of_the_same_time_apply_in_uuid_order() {
    let (a, b) = {
        let (x, y) = (Uuid::new_v4(), Uuid::new_v4());
        (x.min(y), x.max(y))
    };
    let c = |uuid, up| Check {
        time: T0,
        uuid,
        up,
        degraded: false,
    };
    let mut st = TargetState::default();
    st.apply(Input::Result(c(a, true)), T0);
    assert_eq!(
        st.takes(&c(b, false)),
        Ok(()),
        "same time, later uuid: applied"
    );
    st.apply(Input::Result(c(b, false)), T0);
    assert_eq!(st.recent.to_string(), "ud");
    assert_eq!(st.takes(&c(a, true)), Err(Skip::Older));
}

#[test]
fn a_state_stored_without_a_uuid_takes_a_result_of_the_same_time() {
    let st = TargetState {
        status: Status::Up,
        last: Some(Last {
            time: T0,
            uuid: None,
        }),
        recent: Recent::parse("u"),
        incident: None,
    };
    assert_eq!(st.takes(&check(0, true)), Ok(()));
    assert_eq!(st.takes(&check(-1, true)), Err(Skip::Older));
}

#[test]
fn a_stored_state_without_a_known_status_is_read_from_its_strip() {
    let st = TargetState::restore(Some("sideways"), None, "udu", None);
    assert_eq!(st.status, Status::Flapping);
    let st = TargetState::restore(None, None, "", None);
    assert_eq!(st, TargetState::default());
    let st = TargetState::restore(Some("paused"), None, "u", None);
    assert_eq!(st.status, Status::Paused, "a known status is kept");
    // Degraded is not in the strip (a degraded result is a `u`): only the stored status
    // keeps it, and the next result recomputes it.
    let mut st = TargetState::restore(Some("degraded"), None, "udu", None);
    assert_eq!(st.status, Status::Degraded);
    assert_eq!(
        st.apply(result(0, true), T0),
        [status(Status::Degraded, Status::Flapping)]
    );
}

#[test]
fn step_is_apply_without_touching_the_input_state() {
    let (st, _) = run("uud");
    let input = result(600, true);
    let (next, tr) = step(&st, input, T0);
    let mut applied = st;
    assert_eq!(applied.apply(input, T0), tr);
    assert_eq!(applied, next);
    assert_ne!(st, next);
}

/// The order results arrive in does not matter when a caller sorts a batch before applying it:
/// every permutation of one batch gives the same state.
#[test]
fn a_sorted_batch_gives_one_state_whatever_the_arrival_order() {
    let checks = [
        check(0, true),
        check(60, false),
        check(120, false),
        check(180, true),
    ];
    let mut want = None;
    for perm in [[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1], [1, 3, 0, 2]] {
        let mut batch: Vec<Check> = perm.iter().map(|&i| checks[i]).collect();
        batch.sort_by_key(|c| (c.time, c.uuid));
        let mut st = TargetState::default();
        let tr: Vec<_> = batch
            .into_iter()
            .flat_map(|c| st.apply(Input::Result(c), T0))
            .collect();
        match &want {
            None => want = Some((st, tr)),
            Some(w) => assert_eq!(&(st, tr), w),
        }
    }
}

#[test]
fn end_reasons_keep_their_stored_names() {
    assert_eq!(EndReason::Passed.stored(), None);
    assert_eq!(EndReason::Removed.stored(), Some("target removed"));
    assert_eq!(EndReason::Paused.stored(), Some("target paused"));
}

// Degraded: up, but one of the target's `degraded_if` conditions holds.

#[test]
fn up_to_degraded_and_back_changes_the_status_and_opens_no_incident() {
    let (mut st, _) = run("u");
    let tr = st.apply(degraded(60), T0);
    assert_eq!(tr, [status(Status::Up, Status::Degraded)]);
    assert_eq!(st.incident, None);
    assert_eq!(st.apply(degraded(120), T0), [], "degraded again: nothing");
    assert_eq!(
        st.apply(result(180, true), T0),
        [status(Status::Degraded, Status::Up)]
    );
    assert_eq!(st.incident, None);
    assert_eq!(st.recent.to_string(), "uuuu", "a degraded result passed");
}

#[test]
fn a_first_result_that_is_degraded_is_degraded_without_incident() {
    let (st, tr) = run("g");
    assert_eq!(tr, [status(Status::Unknown, Status::Degraded)]);
    assert_eq!(st.status, Status::Degraded);
    assert_eq!(st.incident, None);
}

#[test]
fn degraded_to_down_opens_an_incident_as_up_to_down_does() {
    let (mut st, _) = run("g");
    assert_eq!(
        st.apply(result(60, false), T0),
        [
            status(Status::Degraded, Status::Down),
            Transition::IncidentOpened { at: at(60) }
        ]
    );
    assert_eq!(st.incident, Some(at(60)));
}

#[test]
fn down_to_degraded_closes_the_incident_as_down_to_up_would() {
    let (mut st, _) = run("ud");
    assert_eq!(
        st.apply(degraded(120), T0),
        [
            status(Status::Down, Status::Degraded),
            closed(60, 120, EndReason::Passed)
        ]
    );
    assert_eq!(st.incident, None);
}

/// The latest result's own verdict wins over the history of the flapping window: a degraded
/// result after a recent failure is degraded, and the next plain pass is flapping again.
#[test]
fn degraded_wins_over_flapping_and_flapping_returns_after_it() {
    let (st, tr) = run("udug");
    assert_eq!(
        statuses(&tr),
        [Status::Up, Status::Down, Status::Flapping, Status::Degraded]
    );
    let mut st = st;
    assert_eq!(
        st.apply(result(240, true), T0),
        [status(Status::Degraded, Status::Flapping)],
        "the failure is still in the window of ten"
    );
    let (_, tr) = run("udug");
    assert_eq!(
        tr.last(),
        Some(&status(Status::Flapping, Status::Degraded)),
        "flapping to degraded touches no incident: {tr:?}"
    );
}

#[test]
fn a_failed_result_marked_degraded_is_down() {
    let (mut st, _) = run("u");
    let bad = Check {
        degraded: true,
        ..check(60, false)
    };
    let tr = st.apply(Input::Result(bad), T0);
    assert_eq!(
        tr,
        [
            status(Status::Up, Status::Down),
            Transition::IncidentOpened { at: at(60) }
        ]
    );
}

#[test]
fn a_silent_degraded_target_turns_unknown_and_a_paused_one_ignores_degraded_results() {
    let (mut st, _) = run("g");
    let tick = Input::Tick { interval: MIN };
    let due = at(180) + UNKNOWN_GRACE;
    assert_eq!(st.unknown_at(MIN), Some(due));
    assert_eq!(
        st.apply(tick, due),
        [status(Status::Degraded, Status::Unknown)]
    );
    assert_eq!(
        st.apply(degraded(1000), T0),
        [status(Status::Unknown, Status::Degraded)]
    );
    assert_eq!(
        st.apply(Input::Pause, at(1100)),
        [status(Status::Degraded, Status::Paused)],
        "no incident to close"
    );
    assert_eq!(st.apply(degraded(1200), T0), []);
    assert_eq!(st.status, Status::Paused);
    st.apply(Input::Resume, at(1300));
    assert_eq!(
        st.apply(degraded(1400), T0),
        [status(Status::Unknown, Status::Degraded)]
    );
}

#[test]
fn a_duplicate_or_older_degraded_result_changes_nothing() {
    let (mut st, _) = run("uu");
    let before = st;
    assert_eq!(st.apply(degraded(30), T0), [], "older");
    assert_eq!(st, before);
    let c = Check {
        degraded: true,
        ..check(600, true)
    };
    st.apply(Input::Result(c), T0);
    let before = st;
    assert_eq!(st.apply(Input::Result(c), T0), [], "duplicate");
    assert_eq!(st, before);
}
