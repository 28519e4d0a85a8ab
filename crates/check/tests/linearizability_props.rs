//! Property tests of the linearizability checker.
//!
//! - Histories made by running operations on the model in some order, with
//!   intervals drawn around each operation's instant, are linearizable by
//!   construction: the checker must always accept them.
//! - Corrupting one read of such a history to a value nobody wrote makes it
//!   impossible: the checker must always reject it.
//! - On small histories with arbitrary answers, the checker must agree with
//!   a naive search over every order (its slow twin).

use proptest::prelude::*;
use quorate_check::history::{ClientId, History, Op, Output, Time, Value};
use quorate_check::kv_model::{register_step, KvState};
use quorate_check::linearizability::{check, CheckConfig, Verdict};

/// What happens to a generated operation.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fate {
    /// Takes effect and the client sees the answer.
    Completed(Time, Output),
    /// Takes effect, but the client never learns the answer.
    AppliedUnseen,
    /// Never takes effect, and the client never learns that.
    LostUnseen,
    /// Refused; never takes effect.
    Failed,
}

#[derive(Clone, Copy, Debug)]
struct Planned {
    client: u64,
    op: Op,
    invoke: Time,
    fate: Fate,
}

/// Records `planned` in time order; at equal times invokes come first, so
/// operations touching at one instant count as overlapping.
fn record(planned: &[Planned]) -> History {
    let mut events: Vec<(Time, bool, usize)> = Vec::new();
    for (index, plan) in planned.iter().enumerate() {
        events.push((plan.invoke, false, index));
        if let Fate::Completed(complete, _) = plan.fate {
            events.push((complete, true, index));
        }
    }
    events.sort();
    let mut history = History::new();
    let mut ids = Vec::with_capacity(planned.len());
    ids.resize(planned.len(), None);
    for (time, is_completion, index) in events {
        let plan = planned[index];
        if is_completion {
            let id = ids[index].expect("invoke sorts before completion");
            if let Fate::Completed(_, output) = plan.fate {
                history.complete(id, output, time);
            }
            continue;
        }
        let id = history.invoke(ClientId(plan.client), plan.op, time);
        ids[index] = Some(id);
        match plan.fate {
            Fate::AppliedUnseen | Fate::LostUnseen => history.indeterminate(id),
            Fate::Failed => history.fail(id),
            Fate::Completed(..) => {}
        }
    }
    history
}

/// One generated operation before it is run: (client, kind, key,
/// slack before its instant, slack after, fate selector, cas guesses right).
type Spec = (u64, u8, u64, u64, u64, u8, bool);

fn spec() -> impl Strategy<Value = Spec> {
    (
        0..5_u64,
        0..8_u8,
        0..4_u64,
        0..40_u64,
        0..40_u64,
        0..40_u8,
        any::<bool>(),
    )
}

/// Runs `specs` on the model one at a time, in order; operation `i` takes
/// effect at instant `100 + 10 i`, inside its interval.
fn sequential_history(specs: &[Spec]) -> Vec<Planned> {
    let mut state = KvState::new();
    let mut next_value: Value = 1;
    let mut planned = Vec::with_capacity(specs.len());
    for (index, &(client, kind, key, before, after, fate, guess_right)) in specs.iter().enumerate()
    {
        let instant = 100 + 10 * index as Time;
        next_value += 1;
        let op = match kind {
            0 | 1 => Op::Put {
                key,
                value: next_value,
            },
            2 => Op::Delete { key },
            3 | 4 => {
                let current = state.value(key);
                let expected = if guess_right {
                    current
                } else {
                    Some(next_value + 1_000_000)
                };
                let new = if next_value % 5 == 0 {
                    None
                } else {
                    Some(next_value)
                };
                Op::Cas { key, expected, new }
            }
            _ => Op::Get { key },
        };
        let fate = match fate {
            0 if !op.is_read_only() => Fate::AppliedUnseen,
            1 if !op.is_read_only() => Fate::LostUnseen,
            // A read whose answer was lost: the checker must ignore it.
            1 => Fate::LostUnseen,
            2 => Fate::Failed,
            _ => Fate::Completed(instant + after, Output::Written),
        };
        let fate = match fate {
            Fate::Completed(complete, _) => Fate::Completed(complete, state.apply(&op)),
            Fate::AppliedUnseen => {
                state.apply(&op);
                fate
            }
            Fate::LostUnseen | Fate::Failed => fate,
        };
        planned.push(Planned {
            client,
            op,
            invoke: instant - before,
            fate,
        });
    }
    planned
}

/// The naive twin: tries every order of the operations, with each
/// indeterminate one taking effect or not. Only for a handful of operations.
fn brute_force_linearizable(planned: &[Planned]) -> bool {
    let mut placed = vec![false; planned.len()];
    place_rest(planned, &mut placed, None)
}

fn must_precede(first: &Planned, second: &Planned) -> bool {
    matches!(first.fate, Fate::Completed(complete, _) if complete < second.invoke)
}

fn place_rest(planned: &[Planned], placed: &mut [bool], value: Option<Value>) -> bool {
    let unplaced = |index: &usize| !placed[*index];
    let open: Vec<usize> = (0..planned.len()).filter(unplaced).collect();
    if open
        .iter()
        .all(|&index| !matches!(planned[index].fate, Fate::Completed(..)))
    {
        return true;
    }
    for &candidate in &open {
        if open
            .iter()
            .any(|&other| must_precede(&planned[other], &planned[candidate]))
        {
            continue;
        }
        let (value_after, output) = register_step(value, &planned[candidate].op);
        let answer_fits = match planned[candidate].fate {
            Fate::Completed(_, answer) => answer == output,
            _ => true,
        };
        if answer_fits {
            placed[candidate] = true;
            let found = place_rest(planned, placed, value_after);
            placed[candidate] = false;
            if found {
                return true;
            }
        }
    }
    false
}

/// A small single-key history with arbitrary (often wrong) answers.
fn arbitrary_small_history() -> impl Strategy<Value = Vec<Planned>> {
    let value = prop::option::of(1..4_u64);
    let op = prop_oneof![
        (1..4_u64).prop_map(|value| Op::Put { key: 0, value }),
        Just(Op::Delete { key: 0 }),
        (value.clone(), value.clone()).prop_map(|(expected, new)| Op::Cas {
            key: 0,
            expected,
            new
        }),
        Just(Op::Get { key: 0 }),
    ];
    let one = (op, 0..20_u64, 0..8_u64, 0..6_u8, value, any::<bool>());
    prop::collection::vec(one, 0..7).prop_map(|ops| {
        ops.into_iter()
            .enumerate()
            .map(|(client, (op, invoke, length, fate, read, swapped))| {
                let output = match op {
                    Op::Put { .. } | Op::Delete { .. } => Output::Written,
                    Op::Cas { .. } => Output::Swapped(swapped),
                    Op::Get { .. } => Output::Read(read),
                };
                let fate = match fate {
                    0 if !op.is_read_only() => Fate::LostUnseen,
                    _ => Fate::Completed(invoke + length, output),
                };
                Planned {
                    client: client as u64,
                    op,
                    invoke,
                    fate,
                }
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn histories_run_sequentially_are_linearizable(specs in prop::collection::vec(spec(), 0..250)) {
        let planned = sequential_history(&specs);
        let verdict = check(&record(&planned), &CheckConfig::default());
        prop_assert!(verdict.is_linearizable(), "{:?}", verdict);
    }

    #[test]
    fn read_of_a_value_never_written_is_rejected(
        specs in prop::collection::vec(spec(), 1..250),
        pick in any::<prop::sample::Index>(),
    ) {
        let mut planned = sequential_history(&specs);
        let completed_reads: Vec<usize> = (0..planned.len())
            .filter(|&i| matches!(planned[i].fate, Fate::Completed(_, Output::Read(_))))
            .collect();
        prop_assume!(!completed_reads.is_empty());
        let corrupted = completed_reads[pick.index(completed_reads.len())];
        if let Fate::Completed(complete, _) = planned[corrupted].fate {
            planned[corrupted].fate = Fate::Completed(complete, Output::Read(Some(Value::MAX)));
        }
        let verdict = check(&record(&planned), &CheckConfig::default());
        let violation = verdict.violation();
        prop_assert!(violation.is_some(), "corrupted read passed: {:?}", verdict);
        prop_assert_eq!(violation.map(|v| v.key()), Some(planned[corrupted].op.key()));
    }

    #[test]
    fn checker_agrees_with_trying_every_order(planned in arbitrary_small_history()) {
        let verdict = check(&record(&planned), &CheckConfig::default());
        prop_assert!(!matches!(verdict, Verdict::Unknown(_)));
        prop_assert_eq!(verdict.is_linearizable(), brute_force_linearizable(&planned));
    }
}
