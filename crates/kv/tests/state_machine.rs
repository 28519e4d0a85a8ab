//! The state machine through its public surface: commands in, responses
//! out, snapshots that round-trip and refuse corruption.

use bytes::Bytes;
use proptest::prelude::*;
use quorate_kv::{
    ApplyError, CommandDecodeError, CompareTarget, KvCommand, KvStateMachine, SessionKey,
    SessionsConfig, SnapshotError, Txn, WriteRequest, WriteResponse,
};

fn b(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

fn put(key: &str, value: &str) -> WriteRequest {
    WriteRequest::Put {
        key: b(key),
        value: b(value),
    }
}

fn command(request: WriteRequest, session: Option<(&str, &str)>, at_ms: u64) -> Bytes {
    KvCommand {
        issued_at_ms: at_ms,
        session: session.map(|(client_id, request_id)| SessionKey {
            client_id: client_id.into(),
            request_id: request_id.into(),
        }),
        request,
    }
    .encode()
}

fn machine() -> KvStateMachine {
    KvStateMachine::new(SessionsConfig {
        ttl_ms: 60_000,
        entries_max: 100,
    })
}

/// A machine with keys, a transaction and a remembered session.
fn populated() -> KvStateMachine {
    let mut sm = machine();
    let commands = [
        command(put("a", "1"), None, 1),
        command(put("b", "2"), Some(("c1", "r1")), 2),
        command(
            WriteRequest::Txn(Txn::compare_and_set(
                b("a"),
                CompareTarget::ModRevision(1),
                b("3"),
            )),
            None,
            3,
        ),
        command(WriteRequest::Delete { key: b("b") }, None, 4),
        command(put("c", "\u{0}binary\u{ff}"), None, 5),
    ];
    for (index, data) in commands.iter().enumerate() {
        sm.apply(index as u64 + 1, data).expect("command applies");
    }
    sm
}

#[test]
fn resent_command_with_session_applies_once() {
    let mut sm = machine();
    let first = sm
        .apply(1, &command(put("k", "v"), Some(("c", "1")), 10))
        .expect("applies");
    let again = sm
        .apply(2, &command(put("k", "v"), Some(("c", "1")), 11))
        .expect("duplicate answers");
    assert_eq!(first, again);
    assert_eq!(sm.store().revision(), 1, "the duplicate wrote nothing");
    assert_eq!(sm.applied_index(), 2);
}

#[test]
fn reused_idempotency_key_for_another_request_is_refused() {
    let mut sm = machine();
    sm.apply(1, &command(put("k", "v"), Some(("c", "1")), 10))
        .expect("applies");
    let error = sm
        .apply(2, &command(put("k", "other"), Some(("c", "1")), 11))
        .expect_err("different request under the same key");
    assert!(matches!(error, ApplyError::IdempotencyKeyReused { .. }));
}

#[test]
fn expired_session_applies_again() {
    let mut sm = machine();
    sm.apply(1, &command(put("k", "v"), Some(("c", "1")), 0))
        .expect("applies");
    sm.apply(2, &command(put("k", "v"), Some(("c", "1")), 60_001))
        .expect("applies");
    assert_eq!(sm.store().revision(), 2);
}

#[test]
fn undecodable_command_is_an_answer_not_a_panic() {
    let mut sm = machine();
    let error = sm
        .apply(1, &Bytes::from_static(&[9, 1, 2]))
        .expect_err("bad");
    assert!(matches!(
        error,
        ApplyError::Decode(CommandDecodeError::Version { found: 9 })
    ));
    let mut truncated = command(put("k", "v"), None, 1).to_vec();
    truncated.pop();
    let error = sm.apply(2, &Bytes::from(truncated)).expect_err("bad");
    assert!(matches!(
        error,
        ApplyError::Decode(CommandDecodeError::Malformed(_))
    ));
    assert_eq!(sm.applied_index(), 2);
}

#[test]
fn snapshot_round_trips_map_sessions_and_applied_index() {
    let sm = populated();
    let restored = KvStateMachine::restore(&sm.snapshot()).expect("valid snapshot");
    assert_eq!(restored, sm);
    let mut restored = restored;
    let duplicate = restored
        .apply(9, &command(put("b", "2"), Some(("c1", "r1")), 6))
        .expect("remembered");
    assert!(matches!(duplicate, WriteResponse::Put(put) if put.revision == 2));
}

#[test]
fn restore_rejects_every_single_byte_flip() {
    let snapshot = populated().snapshot();
    for position in 0..snapshot.len() {
        let mut corrupt = snapshot.to_vec();
        corrupt[position] ^= 0x40;
        let result = KvStateMachine::restore(&Bytes::from(corrupt));
        assert!(result.is_err(), "flip at byte {position} was accepted");
    }
}

#[test]
fn restore_rejects_truncation_with_typed_errors() {
    let snapshot = populated().snapshot();
    for length in 0..snapshot.len() {
        let error = KvStateMachine::restore(&snapshot.slice(..length)).expect_err("truncated");
        assert!(matches!(error, SnapshotError::Length { .. }), "{error:?}");
    }
    let mut wrong_magic = snapshot.to_vec();
    wrong_magic[0] = b'X';
    assert_eq!(
        KvStateMachine::restore(&Bytes::from(wrong_magic)),
        Err(SnapshotError::Magic)
    );
}

#[derive(Clone, Debug)]
enum Step {
    Put(u8, u8),
    Delete(u8),
    Cas(u8, u64, u8),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0u8..8, any::<u8>()).prop_map(|(k, v)| Step::Put(k, v)),
        (0u8..8).prop_map(Step::Delete),
        (0u8..8, 0u64..20, any::<u8>()).prop_map(|(k, r, v)| Step::Cas(k, r, v)),
    ]
}

fn request(step: &Step) -> WriteRequest {
    let key = |k: u8| Bytes::from(vec![b'k', k]);
    match step {
        Step::Put(k, v) => WriteRequest::Put {
            key: key(*k),
            value: Bytes::from(vec![*v]),
        },
        Step::Delete(k) => WriteRequest::Delete { key: key(*k) },
        Step::Cas(k, revision, v) => WriteRequest::Txn(Txn::compare_and_set(
            key(*k),
            CompareTarget::ModRevision(*revision),
            Bytes::from(vec![*v]),
        )),
    }
}

proptest! {
    /// Any history snapshots and restores to an equal machine that then
    /// answers the next commands exactly like the original.
    #[test]
    fn snapshot_restore_is_lossless(steps in proptest::collection::vec(step(), 0..60)) {
        let mut original = machine();
        let (before, after) = steps.split_at(steps.len() / 2);
        for (index, step) in before.iter().enumerate() {
            let session = (index % 3 == 0).then_some(("p", "x"));
            let _ = original.apply(index as u64 + 1, &command(request(step), session, index as u64));
        }
        let mut restored = KvStateMachine::restore(&original.snapshot()).expect("valid");
        prop_assert_eq!(&restored, &original);
        for (offset, step) in after.iter().enumerate() {
            let index = (before.len() + offset) as u64 + 1;
            let data = command(request(step), None, index);
            prop_assert_eq!(original.apply(index, &data), restored.apply(index, &data));
        }
        prop_assert_eq!(restored, original);
    }
}
