//! The sequential specification of the KV service: what each operation
//! does and answers when operations run one at a time.
//!
//! A history is linearizable when some order of its operations, consistent
//! with real time, makes every answer equal the answer this model gives.
//! Because every operation touches exactly one key and keys are independent,
//! the model is a map of single registers; [`register_step`] is the per-key
//! model the checker searches with.

use std::collections::BTreeMap;

use crate::history::{Key, Op, Output, Value};

/// The whole store: key → value; an absent key has no entry. A `BTreeMap`
/// keeps iteration, and so anything printed from it, deterministic.
#[derive(Clone, Default, PartialEq, Eq, Debug)]
pub struct KvState {
    values: BTreeMap<Key, Value>,
}

impl KvState {
    /// An empty store.
    pub fn new() -> KvState {
        KvState::default()
    }

    /// The value of `key`, if present.
    pub fn value(&self, key: Key) -> Option<Value> {
        self.values.get(&key).copied()
    }

    /// Runs `op` in place and returns its answer.
    pub fn apply(&mut self, op: &Op) -> Output {
        let key = op.key();
        let (value_after, output) = register_step(self.value(key), op);
        match value_after {
            Some(value) => self.values.insert(key, value),
            None => self.values.remove(&key),
        };
        output
    }

    /// Number of present keys.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether no key is present.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// Runs `op` on `state` and returns the new state and the answer.
pub fn step(state: &KvState, op: &Op) -> (KvState, Output) {
    let mut state_after = state.clone();
    let output = state_after.apply(op);
    (state_after, output)
}

/// Runs `op` on the single key it touches, whose value is `current`, and
/// returns that key's new value and the answer.
pub fn register_step(current: Option<Value>, op: &Op) -> (Option<Value>, Output) {
    match *op {
        Op::Put { value, .. } => (Some(value), Output::Written),
        Op::Delete { .. } => (None, Output::Written),
        Op::Cas { expected, new, .. } => {
            if current == expected {
                (new, Output::Swapped(true))
            } else {
                (current, Output::Swapped(false))
            }
        }
        Op::Get { .. } => (current, Output::Read(current)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_then_get_reads_the_value() {
        let mut state = KvState::new();
        assert_eq!(state.apply(&Op::Put { key: 1, value: 7 }), Output::Written);
        assert_eq!(state.apply(&Op::Get { key: 1 }), Output::Read(Some(7)));
        assert_eq!(state.apply(&Op::Get { key: 2 }), Output::Read(None));
    }

    #[test]
    fn delete_makes_the_key_absent() {
        let (state, _) = step(&KvState::new(), &Op::Put { key: 1, value: 7 });
        let (state, output) = step(&state, &Op::Delete { key: 1 });
        assert_eq!(output, Output::Written);
        assert_eq!(state.value(1), None);
        assert!(state.is_empty());
    }

    #[test]
    fn cas_swaps_only_when_the_expected_value_is_current() {
        let mut state = KvState::new();
        let create = Op::Cas {
            key: 1,
            expected: None,
            new: Some(5),
        };
        assert_eq!(state.apply(&create), Output::Swapped(true));
        assert_eq!(state.apply(&create), Output::Swapped(false));
        assert_eq!(state.value(1), Some(5));

        let wrong = Op::Cas {
            key: 1,
            expected: Some(4),
            new: Some(6),
        };
        assert_eq!(state.apply(&wrong), Output::Swapped(false));
        assert_eq!(state.value(1), Some(5));

        let remove = Op::Cas {
            key: 1,
            expected: Some(5),
            new: None,
        };
        assert_eq!(state.apply(&remove), Output::Swapped(true));
        assert_eq!(state.value(1), None);
    }

    #[test]
    fn keys_are_independent() {
        let mut state = KvState::new();
        state.apply(&Op::Put { key: 1, value: 7 });
        state.apply(&Op::Put { key: 2, value: 8 });
        state.apply(&Op::Delete { key: 1 });
        assert_eq!(state.value(1), None);
        assert_eq!(state.value(2), Some(8));
        assert_eq!(state.len(), 1);
    }
}
