//! Known linearizable histories pass, classic anomalies fail, and
//! indeterminate operations are given every freedom they are owed and no
//! more. All tests build histories through [`check_planned`], so a change to
//! the recording API touches one helper.

use super::*;
use crate::history::{ClientId, Time, Value};

/// What a planned operation's client learned.
#[derive(Clone, Copy)]
enum Answer {
    Completed(Time, Output),
    Indeterminate,
    Pending,
    Failed,
}

#[derive(Clone, Copy)]
struct Planned {
    client: u64,
    op: Op,
    invoke: Time,
    answer: Answer,
}

fn ok(client: u64, op: Op, invoke: Time, complete: Time, output: Output) -> Planned {
    let answer = Answer::Completed(complete, output);
    Planned {
        client,
        op,
        invoke,
        answer,
    }
}

fn unsure(client: u64, op: Op, invoke: Time) -> Planned {
    let answer = Answer::Indeterminate;
    Planned {
        client,
        op,
        invoke,
        answer,
    }
}

fn put(key: Key, value: Value) -> Op {
    Op::Put { key, value }
}

fn get(key: Key) -> Op {
    Op::Get { key }
}

fn cas(key: Key, expected: Option<Value>, new: Option<Value>) -> Op {
    Op::Cas { key, expected, new }
}

fn read(value: Option<Value>) -> Output {
    Output::Read(value)
}

const W: Output = Output::Written;

/// Records `planned` in time order (an invoke and a completion at the same
/// time count as overlapping) and returns the history and its ids.
fn record(planned: &[Planned]) -> (History, Vec<OpId>) {
    let mut events: Vec<(Time, bool, usize)> = Vec::new();
    for (index, plan) in planned.iter().enumerate() {
        events.push((plan.invoke, false, index));
        if let Answer::Completed(complete, _) = plan.answer {
            events.push((complete, true, index));
        }
    }
    events.sort();
    let mut history = History::new();
    let mut ids = vec![OpId(usize::MAX); planned.len()];
    for (time, is_completion, index) in events {
        let plan = planned[index];
        if !is_completion {
            ids[index] = history.invoke(ClientId(plan.client), plan.op, time);
            match plan.answer {
                Answer::Indeterminate => history.indeterminate(ids[index]),
                Answer::Failed => history.fail(ids[index]),
                Answer::Completed(..) | Answer::Pending => {}
            }
        } else if let Answer::Completed(_, output) = plan.answer {
            history.complete(ids[index], output, time);
        }
    }
    (history, ids)
}

fn check_planned(planned: &[Planned]) -> Verdict {
    let (history, _) = record(planned);
    check(&history, &CheckConfig::default())
}

fn assert_linearizable(planned: &[Planned]) {
    let verdict = check_planned(planned);
    assert!(
        verdict.is_linearizable(),
        "expected linearizable, got {verdict:?}"
    );
}

fn assert_violation(planned: &[Planned]) -> Violation {
    match check_planned(planned) {
        Verdict::NotLinearizable(violation) => *violation,
        other => panic!("expected a violation, got {other:?}"),
    }
}

#[test]
fn empty_history_is_linearizable() {
    assert_linearizable(&[]);
}

#[test]
fn sequential_operations_matching_the_model_are_linearizable() {
    assert_linearizable(&[
        ok(1, get(1), 0, 1, read(None)),
        ok(1, put(1, 10), 2, 3, W),
        ok(2, get(1), 4, 5, read(Some(10))),
        ok(2, cas(1, Some(10), Some(11)), 6, 7, Output::Swapped(true)),
        ok(1, cas(1, Some(10), Some(12)), 8, 9, Output::Swapped(false)),
        ok(1, Op::Delete { key: 1 }, 10, 11, W),
        ok(2, get(1), 12, 13, read(None)),
    ]);
}

#[test]
fn read_overlapping_a_write_may_see_either_value() {
    for seen in [Some(1), Some(2)] {
        assert_linearizable(&[
            ok(1, put(1, 1), 0, 10, W),
            ok(1, put(1, 2), 20, 30, W),
            ok(2, get(1), 25, 35, read(seen)),
        ]);
    }
}

#[test]
fn overlapping_operations_may_take_effect_in_either_order() {
    // The second put is invoked first but takes effect last.
    assert_linearizable(&[
        ok(1, put(1, 1), 5, 30, W),
        ok(2, put(1, 2), 0, 40, W),
        ok(3, get(1), 10, 20, read(Some(1))),
        ok(3, get(1), 41, 42, read(Some(2))),
    ]);
}

#[test]
fn stale_read_after_a_completed_write_is_caught() {
    let (history, ids) = record(&[
        ok(1, put(7, 1), 0, 1, W),
        ok(1, put(7, 2), 2, 3, W),
        ok(2, get(7), 4, 5, read(Some(1))),
    ]);
    let Verdict::NotLinearizable(violation) = check(&history, &CheckConfig::default()) else {
        panic!("stale read passed");
    };
    assert_eq!(violation.key(), 7);
    assert_eq!(violation.stuck(), Some(ids[2]));
    assert_eq!(violation.longest_order(), &ids[..2]);
    let report = violation.to_string();
    assert!(report.contains("key 7"), "{report}");
    assert!(report.contains("read 1"), "{report}");
}

#[test]
fn readers_observing_writes_in_opposite_orders_are_caught() {
    assert_violation(&[
        ok(1, put(1, 1), 0, 10, W),
        ok(2, put(1, 2), 0, 10, W),
        ok(3, get(1), 1, 4, read(Some(1))),
        ok(3, get(1), 5, 8, read(Some(2))),
        ok(4, get(1), 1, 4, read(Some(2))),
        ok(4, get(1), 5, 8, read(Some(1))),
    ]);
}

#[test]
fn cas_swapping_against_the_wrong_value_is_caught() {
    assert_violation(&[
        ok(1, put(1, 1), 0, 1, W),
        ok(2, cas(1, Some(2), Some(3)), 2, 3, Output::Swapped(true)),
    ]);
}

#[test]
fn two_creating_cas_cannot_both_swap() {
    assert_violation(&[
        ok(1, cas(1, None, Some(1)), 0, 10, Output::Swapped(true)),
        ok(2, cas(1, None, Some(2)), 0, 10, Output::Swapped(true)),
    ]);
}

#[test]
fn cas_failing_when_it_must_swap_is_caught() {
    assert_violation(&[
        ok(1, put(1, 1), 0, 1, W),
        ok(2, cas(1, Some(1), Some(2)), 2, 3, Output::Swapped(false)),
    ]);
}

#[test]
fn read_of_a_value_never_written_is_caught() {
    let violation = assert_violation(&[
        ok(1, put(1, 1), 0, 1, W),
        ok(2, get(1), 2, 3, read(Some(99))),
    ]);
    assert_eq!(violation.longest_order().len(), 1);
}

#[test]
fn lost_write_followed_by_a_read_is_caught() {
    assert_violation(&[ok(1, put(1, 1), 0, 1, W), ok(2, get(1), 2, 3, read(None))]);
}

#[test]
fn indeterminate_write_may_become_visible_later() {
    assert_linearizable(&[
        ok(1, put(1, 1), 0, 1, W),
        unsure(1, put(1, 2), 2),
        ok(2, get(1), 10, 11, read(Some(1))),
        ok(2, get(1), 20, 21, read(Some(2))),
        ok(3, get(1), 30, 31, read(Some(2))),
    ]);
}

#[test]
fn indeterminate_write_may_never_take_effect() {
    assert_linearizable(&[
        ok(1, put(1, 1), 0, 1, W),
        unsure(1, put(1, 2), 2),
        unsure(2, cas(1, Some(1), None), 3),
        ok(2, get(1), 10, 11, read(Some(1))),
        ok(3, get(1), 30, 31, read(Some(1))),
    ]);
}

#[test]
fn write_never_answered_counts_as_indeterminate() {
    let pending = Planned {
        client: 1,
        op: put(1, 2),
        invoke: 2,
        answer: Answer::Pending,
    };
    assert_linearizable(&[pending, ok(2, get(1), 5, 6, read(Some(2)))]);
    assert_linearizable(&[pending, ok(2, get(1), 5, 6, read(None))]);
}

#[test]
fn indeterminate_write_cannot_take_effect_before_its_invoke() {
    assert_violation(&[ok(2, get(1), 0, 1, read(Some(2))), unsure(1, put(1, 2), 5)]);
}

#[test]
fn indeterminate_write_once_seen_does_not_disappear() {
    assert_violation(&[
        ok(1, put(1, 1), 0, 1, W),
        unsure(1, put(1, 2), 2),
        ok(2, get(1), 3, 4, read(Some(2))),
        ok(2, get(1), 5, 6, read(Some(1))),
    ]);
}

#[test]
fn failed_write_never_takes_effect() {
    let failed = Planned {
        client: 1,
        op: put(1, 2),
        invoke: 0,
        answer: Answer::Failed,
    };
    assert_violation(&[failed, ok(2, get(1), 5, 6, read(Some(2)))]);
    assert_linearizable(&[failed, ok(2, get(1), 5, 6, read(None))]);
}

#[test]
fn indeterminate_read_constrains_nothing() {
    assert_linearizable(&[
        ok(1, put(1, 1), 0, 1, W),
        unsure(2, get(1), 2),
        ok(2, get(1), 3, 4, read(Some(1))),
    ]);
}

#[test]
fn keys_are_checked_independently() {
    let violation = assert_violation(&[
        ok(1, put(1, 1), 0, 1, W),
        ok(1, put(2, 5), 2, 3, W),
        ok(2, get(1), 4, 5, read(Some(1))),
        ok(2, get(2), 6, 7, read(None)),
    ]);
    assert_eq!(violation.key(), 2);
    assert_eq!(violation.key_ops().len(), 2);
}

#[test]
fn witness_keeps_only_the_reads_the_violation_needs() {
    let (history, ids) = record(&[
        ok(1, put(1, 1), 0, 1, W),
        ok(2, get(1), 2, 3, read(Some(1))),
        ok(1, put(1, 2), 4, 5, W),
        ok(2, get(1), 6, 7, read(Some(2))),
        ok(3, get(1), 8, 9, read(Some(1))),
        ok(2, get(1), 10, 11, read(Some(2))),
    ]);
    let verdict = check(&history, &CheckConfig::default());
    let violation = verdict.violation().expect("stale read passed");
    assert_eq!(violation.witness(), &[ids[0], ids[2], ids[4]]);
}

#[test]
fn exhausted_budget_is_unknown_not_a_verdict() {
    let (history, _) = record(&[
        ok(1, put(1, 1), 0, 10, W),
        ok(2, put(1, 2), 0, 10, W),
        ok(3, put(1, 3), 0, 10, W),
        ok(4, get(1), 11, 12, read(Some(1))),
        ok(5, put(2, 1), 0, 1, W),
    ]);
    let tight = CheckConfig {
        steps_per_key_max: 2,
    };
    let expected = BudgetExhausted {
        keys: vec![1],
        steps_per_key_max: 2,
    };
    assert_eq!(check(&history, &tight), Verdict::Unknown(expected));
    assert!(check(&history, &CheckConfig::default()).is_linearizable());
}

#[test]
fn completion_recorded_before_an_invoke_at_the_same_time_precedes_it() {
    let mut history = History::new();
    let write = history.invoke(ClientId(1), put(1, 1), 0);
    history.complete(write, W, 5);
    let read_id = history.invoke(ClientId(2), get(1), 5);
    history.complete(read_id, read(None), 6);
    assert!(check(&history, &CheckConfig::default())
        .violation()
        .is_some());

    let mut overlapping = History::new();
    let read_id = overlapping.invoke(ClientId(2), get(1), 5);
    let write = overlapping.invoke(ClientId(1), put(1, 1), 0);
    overlapping.complete(write, W, 5);
    overlapping.complete(read_id, read(None), 6);
    assert!(check(&overlapping, &CheckConfig::default()).is_linearizable());
}

#[test]
fn long_single_key_history_spans_several_bitset_words() {
    let mut planned = Vec::new();
    for value in 0..150 {
        let time = value * 10;
        planned.push(ok(1, put(1, value), time, time + 6, W));
        planned.push(ok(2, get(1), time + 3, time + 9, read(Some(value))));
    }
    assert_linearizable(&planned);
    planned.push(ok(3, get(1), 5_000, 5_001, read(Some(3))));
    assert_violation(&planned);
}
