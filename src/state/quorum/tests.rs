use super::*;

use Decision::{Down, NoChange, Partial, Up};

// ---- the rule ----------------------------------------------------------------------------

#[test]
fn three_locations_two_down_is_down() {
    assert_eq!(decide(1, 2, 3, Quorum::Majority), Down);
    assert_eq!(decide(0, 2, 3, Quorum::Majority), Down);
    assert_eq!(decide(0, 3, 3, Quorum::Majority), Down);
}

#[test]
fn three_locations_one_down_two_up_is_partial() {
    assert_eq!(decide(2, 1, 3, Quorum::Majority), Partial);
    assert_eq!(decide(3, 0, 3, Quorum::Majority), Up);
}

#[test]
fn two_locations_one_down_is_partial_not_an_outage() {
    assert_eq!(Quorum::Majority.k(2), 2);
    assert_eq!(decide(1, 1, 2, Quorum::Majority), Partial);
    assert_eq!(decide(0, 2, 2, Quorum::Majority), Down);
    assert_eq!(decide(2, 0, 2, Quorum::Majority), Up);
    // One down and the other not heard from: it could still be an outage.
    assert_eq!(decide(0, 1, 2, Quorum::Majority), NoChange);
}

#[test]
fn missing_results_count_as_neither() {
    // 3 locations, one silent: two up is up, one up and one down is too few to say.
    assert_eq!(decide(2, 0, 3, Quorum::Majority), Up);
    assert_eq!(decide(1, 1, 3, Quorum::Majority), NoChange);
    assert_eq!(decide(1, 0, 3, Quorum::Majority), NoChange);
    assert_eq!(decide(0, 1, 3, Quorum::Majority), NoChange);
    assert_eq!(decide(0, 0, 3, Quorum::Majority), NoChange);
    // 5 locations: 3 up, 1 down, 1 missing: the missing one cannot make it down.
    assert_eq!(decide(3, 1, 5, Quorum::Majority), Partial);
    // 4 locations (k = 3): 2 up, 1 down, 1 missing could still be 2 down, not 3: partial.
    assert_eq!(decide(2, 1, 4, Quorum::Majority), Partial);
    // 4 locations: 1 up, 1 down, 2 missing could be 3 down: no change yet.
    assert_eq!(decide(1, 1, 4, Quorum::Majority), NoChange);
}

#[test]
fn quorum_all_needs_every_location_down() {
    assert_eq!(Quorum::All.k(3), 3);
    assert_eq!(decide(1, 2, 3, Quorum::All), Partial);
    assert_eq!(decide(0, 2, 3, Quorum::All), NoChange);
    assert_eq!(decide(0, 3, 3, Quorum::All), Down);
    assert_eq!(decide(2, 0, 3, Quorum::All), NoChange);
    assert_eq!(decide(3, 0, 3, Quorum::All), Up);
}

#[test]
fn quorum_any_one_down_is_down() {
    assert_eq!(Quorum::Any.k(3), 1);
    assert_eq!(decide(2, 1, 3, Quorum::Any), Down);
    assert_eq!(decide(1, 0, 3, Quorum::Any), Up);
    assert_eq!(Quorum::Any.k(0), 0);
}

#[test]
fn a_fixed_quorum_above_n_is_clamped_to_n() {
    assert_eq!(Quorum::AtLeast(5).k(3), 3);
    assert_eq!(Quorum::AtLeast(2).k(3), 2);
    assert_eq!(decide(0, 3, 3, Quorum::AtLeast(5)), Down);
    assert_eq!(decide(3, 0, 3, Quorum::AtLeast(5)), Up);
    // No location counted: nothing to say, whatever the quorum.
    for q in [
        Quorum::Majority,
        Quorum::AtLeast(1),
        Quorum::All,
        Quorum::Any,
    ] {
        assert_eq!(decide(0, 0, 0, q), NoChange);
    }
}

/// The plain reading of the rule: DOWN when ≥ k down, UP when ≥ k up and none down, PARTIAL
/// when ≥ k up and some down.
fn plain_reading(up: usize, down: usize, n: usize) -> Decision {
    let k = n / 2 + 1;
    if down >= k {
        Down
    } else if up >= k && down == 0 {
        Up
    } else if up >= k && down > 0 {
        Partial
    } else {
        NoChange
    }
}

#[test]
fn partial_rule_equals_the_plain_reading_for_odd_n() {
    for n in 1..=9 {
        for up in 0..=n {
            for down in 0..=n - up {
                let ours = decide(up, down, n, Quorum::Majority);
                let plain = plain_reading(up, down, n);
                if n % 2 == 1 {
                    assert_eq!(ours, plain, "n={n} up={up} down={down}");
                } else if ours != plain {
                    // Even n: only ties the plain reading leaves undecided become partial.
                    assert_eq!(
                        (ours, plain),
                        (Partial, NoChange),
                        "n={n} up={up} down={down}"
                    );
                    assert!(up >= 1 && down >= 1 && down < n / 2 + 1);
                }
            }
        }
    }
}

#[test]
fn quorum_reads_majority_a_number_all_and_any() {
    let q = |s: &str| s.parse::<Quorum>();
    assert_eq!(q("majority"), Ok(Quorum::Majority));
    assert_eq!(q(" ALL "), Ok(Quorum::All));
    assert_eq!(q("any"), Ok(Quorum::Any));
    assert_eq!(q("2"), Ok(Quorum::AtLeast(2)));
    for bad in ["0", "-1", "most", "", "2.5"] {
        assert_eq!(q(bad), Err(BadQuorum(bad.into())));
    }
    assert_eq!(
        q("most").unwrap_err().to_string(),
        "expected majority, all, any or a number of locations (1 or more), got \"most\""
    );
    let yaml = |s: &str| serde_yaml_ng::from_str::<Quorum>(s);
    assert_eq!(yaml("2").unwrap(), Quorum::AtLeast(2));
    assert_eq!(yaml("\"3\"").unwrap(), Quorum::AtLeast(3));
    assert_eq!(yaml("all").unwrap(), Quorum::All);
    assert_eq!(yaml("majority").unwrap(), Quorum::Majority);
    assert!(
        yaml("0")
            .unwrap_err()
            .to_string()
            .contains("majority, all, any")
    );
    assert!(
        yaml("sometimes")
            .unwrap_err()
            .to_string()
            .contains("got \"sometimes\"")
    );
    assert!(yaml("true").is_err());
    assert_eq!(serde_json::to_string(&Quorum::AtLeast(2)).unwrap(), "2");
    assert_eq!(serde_json::to_string(&Quorum::Any).unwrap(), "\"any\"");
    assert_eq!(Quorum::default(), Quorum::Majority);
}

// ---- the round book ----------------------------------------------------------------------

/// Round r starts at r × 10 s + 2.5 s and, with the default grace of 1 s, closes at
/// (r + 1) × 10 s + 3.5 s.
const S: Schedule = Schedule {
    interval_ms: 10_000,
    phase_ms: 2_500,
};
const R: i64 = 100;
/// Round R's start.
const T: u64 = 1_002_500;

fn book() -> RoundBook {
    let mut b = RoundBook::new(Locations::new(&["eu", "us", "ap"]).unwrap());
    b.set_target("t", S, Quorum::Majority, default_grace(S));
    b
}

fn up(at_ms: u64) -> RoundResult {
    RoundResult {
        up: true,
        at_ms,
        recheck: false,
        response_ms: 100,
    }
}

fn down(at_ms: u64) -> RoundResult {
    RoundResult {
        up: false,
        ..up(at_ms)
    }
}

fn names(b: &RoundBook, s: LocSet) -> Vec<String> {
    b.locations().names(s)
}

#[test]
fn grace_defaults_to_a_tenth_of_the_interval() {
    assert_eq!(default_grace(S), 1_000);
    assert_eq!(
        default_grace(Schedule {
            interval_ms: 60_000,
            phase_ms: 0
        }),
        6_000
    );
}

#[test]
fn a_round_closes_at_the_end_of_its_interval_plus_grace() {
    assert_eq!(close_time(S, R, 1_000), T + 10_000 + 1_000);
    let mut b = book();
    assert_eq!(b.next_close(), None, "no result, no round open");
    assert_eq!(
        b.observe("t", "eu", R, down(T + 100), T + 200),
        Observed::FirstDown
    );
    assert_eq!(
        b.observe("t", "us", R, down(T + 150), T + 200),
        Observed::Applied
    );
    assert_eq!(b.next_close(), Some(T + 11_000));
    assert!(b.close_due(T + 10_999, LocSet::EMPTY).is_empty());
    let closed = b.close_due(T + 11_000, LocSet::EMPTY);
    assert_eq!(closed.len(), 1);
    let c = &closed[0];
    assert_eq!((&*c.target, c.round, c.decision), ("t", R, Down));
    assert_eq!(
        (names(&b, c.down), c.up, c.counted),
        (vec!["eu".into(), "us".into()], LocSet::EMPTY, 3)
    );
    assert_eq!(c.closed_at_ms, T + 11_000);
    // The next round is open and closes one interval later.
    assert_eq!(b.next_close(), Some(T + 21_000));
    // A settable grace.
    let mut b = book();
    b.set_target("t", S, Quorum::Majority, 4_000);
    b.observe("t", "eu", R, up(T), T);
    assert_eq!(b.next_close(), Some(T + 14_000));
    assert!(b.close_due(T + 13_999, LocSet::EMPTY).is_empty());
    assert_eq!(b.close_due(T + 14_000, LocSet::EMPTY).len(), 1);
}

#[test]
fn a_result_after_the_close_is_late_and_changes_nothing() {
    let mut b = book();
    b.observe("t", "eu", R, up(T + 100), T + 100);
    b.observe("t", "us", R, up(T + 100), T + 100);
    let closed = b.close_due(T + 11_000, LocSet::EMPTY);
    assert_eq!(closed[0].decision, Up);
    assert_eq!(
        b.observe("t", "ap", R, down(T + 10_900), T + 11_001),
        Observed::Late
    );
    // Late by its close time even when nobody has closed the round yet.
    assert_eq!(
        b.observe("t", "ap", R + 1, down(T + 20_000), T + 21_000),
        Observed::Late
    );
    // Long gone, and nonsense round numbers: late, without overflowing.
    assert_eq!(
        b.observe("t", "ap", R - 50, down(T), T + 11_001),
        Observed::Late
    );
    assert_eq!(b.observe("t", "ap", i64::MIN, down(T), T), Observed::Late);
    assert_eq!(b.observe("t", "ap", i64::MAX, down(T), T), Observed::Early);
    let closed = b.close_due(T + 21_000, LocSet::EMPTY);
    assert_eq!((closed[0].round, closed[0].decision), (R + 1, NoChange));
    assert!(closed[0].down.is_empty());
}

#[test]
fn a_result_for_a_round_more_than_an_interval_ahead_is_early() {
    let mut b = book();
    assert_eq!(
        b.observe("t", "eu", R + 1, up(T), T + 9_000),
        Observed::Applied
    );
    assert_eq!(
        b.observe("t", "eu", R + 2, up(T), T + 9_000),
        Observed::Early
    );
}

#[test]
fn a_recheck_replaces_the_locations_result() {
    let mut b = book();
    assert_eq!(
        b.observe("t", "eu", R, down(T + 100), T + 100),
        Observed::FirstDown
    );
    b.observe("t", "us", R, up(T + 200), T + 200);
    let recheck = RoundResult {
        recheck: true,
        ..up(T + 3_000)
    };
    assert_eq!(
        b.observe("t", "eu", R, recheck, T + 3_000),
        Observed::Applied
    );
    // A result older than the one kept does not replace it.
    assert_eq!(
        b.observe("t", "eu", R, down(T + 50), T + 3_100),
        Observed::Superseded
    );
    let c = b.close_due(T + 11_000, LocSet::EMPTY).remove(0);
    assert_eq!(c.decision, Up);
    assert_eq!(names(&b, c.up), vec!["eu".to_owned(), "us".to_owned()]);
    assert!(c.down.is_empty());
}

#[test]
fn an_impaired_location_is_left_out_of_n() {
    let mut b = book();
    let ap = b.locations().id("ap").unwrap();
    b.observe("t", "eu", R, up(T), T);
    b.observe("t", "us", R, down(T), T);
    b.observe("t", "ap", R, down(T), T);
    let mut impaired = LocSet::EMPTY;
    impaired.insert(ap);
    // Counted: eu up, us down of n = 2: partial, where ap's down would have made it down.
    let c = b.close_due(T + 11_000, impaired).remove(0);
    assert_eq!((c.decision, c.counted), (Partial, 2));
    assert_eq!(names(&b, c.impaired), vec!["ap".to_owned()]);
    assert_eq!(names(&b, c.down), vec!["us".to_owned(), "ap".to_owned()]);
    // The same results with nobody impaired: down.
    let mut b = book();
    b.observe("t", "eu", R, up(T), T);
    b.observe("t", "us", R, down(T), T);
    b.observe("t", "ap", R, down(T), T);
    assert_eq!(b.close_due(T + 11_000, LocSet::EMPTY)[0].decision, Down);
}

#[test]
fn a_target_with_no_results_closes_as_none() {
    let mut b = book();
    b.observe("t", "eu", R, up(T), T);
    b.observe("t", "us", R, up(T), T);
    // Three rounds later: R up, then R+1 and R+2 with nothing.
    let closed = b.close_due(T + 31_000, LocSet::EMPTY);
    let got: Vec<_> = closed.iter().map(|c| (c.round, c.decision)).collect();
    assert_eq!(got, vec![(R, Up), (R + 1, NoChange), (R + 2, NoChange)]);
    assert!(closed[1].up.is_empty() && closed[1].down.is_empty());
    assert_eq!(closed[1].response_ms, None);
    assert_eq!(b.next_close(), Some(T + 41_000));
    // A target that never had a result opens no round.
    b.set_target("quiet", S, Quorum::Majority, 1_000);
    assert!(
        b.close_due(T + 41_000, LocSet::EMPTY)
            .iter()
            .all(|c| &*c.target == "t")
    );
}

#[test]
fn first_down_is_told_once_per_round() {
    let mut b = book();
    assert_eq!(b.observe("t", "eu", R, up(T), T), Observed::Applied);
    assert_eq!(b.observe("t", "us", R, down(T), T), Observed::FirstDown);
    assert_eq!(b.observe("t", "ap", R, down(T), T), Observed::Applied);
    assert_eq!(
        b.observe("t", "us", R, down(T + 5), T + 5),
        Observed::Applied
    );
    // The next round's first down is told again: the target is not down yet (R is partial
    // until closed, and closing it makes it down).
    assert_eq!(
        b.observe("t", "us", R + 1, down(T + 10_000), T + 10_000),
        Observed::FirstDown
    );
    assert_eq!(b.close_due(T + 11_000, LocSet::EMPTY)[0].decision, Down);
    // While the target is down, a down result is no news.
    assert_eq!(
        b.observe("t", "eu", R + 1, down(T + 10_500), T + 11_000),
        Observed::Applied
    );
    assert_eq!(
        b.observe("t", "eu", R + 2, down(T + 20_000), T + 20_000),
        Observed::Applied
    );
    // A recheck's down never asks for more rechecks.
    let mut b = book();
    let recheck = RoundResult {
        recheck: true,
        ..down(T)
    };
    assert_eq!(b.observe("t", "eu", R, recheck, T), Observed::Applied);
}

#[test]
fn unknown_targets_and_locations_are_told() {
    let mut b = book();
    assert_eq!(
        b.observe("nope", "eu", R, up(T), T),
        Observed::UnknownTarget
    );
    assert_eq!(
        b.observe("t", "mars", R, up(T), T),
        Observed::UnknownLocation
    );
    assert_eq!(b.next_close(), None);
}

#[test]
fn a_result_for_an_earlier_round_still_open_is_counted() {
    // us probes early in the interval and has sent R + 1 when eu's R (probed late in R) comes.
    let mut b = book();
    assert_eq!(
        b.observe("t", "us", R + 1, up(T + 10_100), T + 10_200),
        Observed::Applied
    );
    assert_eq!(
        b.observe("t", "eu", R, up(T + 9_900), T + 10_300),
        Observed::Applied
    );
    assert_eq!(
        b.observe("t", "ap", R, up(T + 9_950), T + 10_300),
        Observed::Applied
    );
    assert_eq!(b.next_close(), Some(T + 11_000));
    let closed = b.close_due(T + 21_000, LocSet::EMPTY);
    let got: Vec<_> = closed.iter().map(|c| (c.round, c.decision)).collect();
    assert_eq!(got, vec![(R, Up), (R + 1, NoChange)]);
}

#[test]
fn rounds_close_in_order_of_close_time_across_targets() {
    let mut b = book();
    let other = Schedule {
        interval_ms: 10_000,
        phase_ms: 500,
    };
    b.set_target("o", other, Quorum::Any, 1_000);
    b.observe("t", "eu", R, up(T), T);
    // o's round R + 1 starts at T + 8_000 and closes at T + 19_000, after t's R.
    b.observe("o", "eu", R + 1, down(T + 8_000), T + 8_000);
    b.observe("o", "us", R + 1, up(T + 8_000), T + 8_000);
    let closed = b.close_due(T + 19_000, LocSet::EMPTY);
    let got: Vec<_> = closed
        .iter()
        .map(|c| (c.target.to_string(), c.round, c.decision, c.closed_at_ms))
        .collect();
    assert_eq!(
        got,
        vec![
            ("t".into(), R, NoChange, T + 11_000),
            ("o".into(), R + 1, Down, T + 19_000),
        ]
    );
}

#[test]
fn a_removed_target_closes_nothing_and_its_slot_is_reused() {
    let mut b = book();
    b.observe("t", "eu", R, up(T), T);
    b.remove_target("t");
    assert_eq!(b.observe("t", "eu", R, up(T), T), Observed::UnknownTarget);
    assert!(b.close_due(T + 11_000, LocSet::EMPTY).is_empty());
    b.set_target("n", S, Quorum::Majority, 1_000);
    assert_eq!((b.len(), b.slots.len()), (1, 1));
}

#[test]
fn a_changed_interval_drops_the_open_rounds_a_changed_grace_moves_the_close() {
    let mut b = book();
    b.observe("t", "eu", R, down(T), T);
    b.set_target("t", S, Quorum::Majority, 3_000);
    assert!(b.close_due(T + 11_000, LocSet::EMPTY).is_empty());
    assert_eq!(b.close_due(T + 13_000, LocSet::EMPTY).len(), 1);
    let slower = Schedule {
        interval_ms: 20_000,
        phase_ms: 2_500,
    };
    b.observe("t", "eu", R + 1, down(T + 13_000), T + 13_000);
    b.set_target("t", slower, Quorum::Majority, 2_000);
    assert!(b.close_due(T + 60_000, LocSet::EMPTY).is_empty());
    assert_eq!(b.oldest_open_round_start("t"), None);
}

#[test]
fn a_verdict_carries_the_median_response_time_of_the_counted_up_results() {
    let mut b = book();
    for (loc, ms) in [("eu", 300), ("us", 100), ("ap", 200)] {
        b.observe(
            "t",
            loc,
            R,
            RoundResult {
                response_ms: ms,
                ..up(T)
            },
            T,
        );
    }
    assert_eq!(b.oldest_open_round_start("t"), Some(T));
    let c = b.close_due(T + 11_000, LocSet::EMPTY).remove(0);
    assert_eq!(c.response_ms, Some(200));
    assert_eq!(b.oldest_open_round_start("t"), Some(T + 10_000));
}

#[test]
fn the_examples_in_the_docs_follow_the_rule() {
    let doc = include_str!("../../../docs/fleet.md");
    let mut rows = 0;
    for line in doc.lines() {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let [n, k, up, down, missing, verdict] = cells[..] else {
            continue;
        };
        let Ok(n) = n.parse::<usize>() else { continue };
        let num = |s: &str| s.parse::<usize>().unwrap();
        assert_eq!(Quorum::Majority.k(n), num(k), "{line}");
        assert_eq!(num(up) + num(down) + num(missing), n, "{line}");
        let expected = match verdict {
            "UP" => Up,
            "DOWN" => Down,
            "PARTIAL" => Partial,
            "no change" => NoChange,
            other => panic!("{other}"),
        };
        assert_eq!(
            decide(num(up), num(down), n, Quorum::Majority),
            expected,
            "{line}"
        );
        rows += 1;
    }
    assert_eq!(rows, 20);
}
