//! The frame codec: every message kind survives a round trip, and every kind
//! of malformed input becomes a typed error instead of a panic.

use bytes::{BufMut, Bytes, BytesMut};
use proptest::prelude::*;
use prost::Message as _;
use quorate::transport::Envelope;
use quorate::wire::message::{WireBody, WireConfState, WireEntry, WireSnapshotMeta};
use quorate::wire::{
    Frame, FrameCodec, FrameError, Handshake, MessageDecodeError, SnapshotAbort, SnapshotAck,
    SnapshotChunk, SnapshotTrailer, WireEnvelope, WireFrame, WireFrameKind,
};
use quorate_core::{
    AppendRequest, AppendResponse, ConfState, Entry, EntryId, EntryKind, GroupId, Heartbeat,
    HeartbeatResponse, Index, InstallSnapshot, Message, MessageBody, NodeId, ReadIndexRequest,
    ReadIndexResponse, SnapshotMeta, Term, VoteRequest, VoteResponse,
};
use std::collections::BTreeSet;
use tokio_util::codec::{Decoder, Encoder};

fn id(term: u64, index: u64) -> EntryId {
    EntryId::new(Term::new(term), Index::new(index))
}

fn ids(raw: &[u64]) -> BTreeSet<NodeId> {
    raw.iter().map(|&r| NodeId::new(r)).collect()
}

fn append_with_entries() -> MessageBody {
    MessageBody::AppendRequest(AppendRequest {
        prev_log: id(2, 7),
        entries: vec![
            Entry {
                term: Term::new(3),
                index: Index::new(8),
                kind: EntryKind::Normal,
                data: Bytes::from_static(b"put x=1"),
            },
            Entry {
                term: Term::new(3),
                index: Index::new(9),
                kind: EntryKind::ConfChange,
                data: Bytes::from_static(b"\x01\x00"),
            },
            Entry {
                term: Term::new(3),
                index: Index::new(10),
                kind: EntryKind::Normal,
                data: Bytes::new(),
            },
        ],
        leader_commit: Index::new(7),
    })
}

/// One body of every kind, with non-default values in every field.
fn every_body() -> Vec<MessageBody> {
    let joint = ConfState {
        voters: ids(&[1, 2, 4]),
        voters_outgoing: ids(&[1, 2, 3]),
        learners: ids(&[5]),
        learners_next: ids(&[3]),
        auto_leave: true,
    };
    vec![
        MessageBody::VoteRequest(VoteRequest {
            pre_vote: true,
            last_log: id(3, 9),
            force: true,
            priority: 2,
        }),
        MessageBody::VoteRequest(VoteRequest {
            pre_vote: false,
            last_log: id(4, 10),
            force: false,
            priority: 0,
        }),
        MessageBody::VoteResponse(VoteResponse {
            pre_vote: true,
            granted: true,
        }),
        MessageBody::VoteResponse(VoteResponse {
            pre_vote: false,
            granted: false,
        }),
        append_with_entries(),
        MessageBody::AppendResponse(AppendResponse::Accepted {
            match_index: Index::new(10),
        }),
        MessageBody::AppendResponse(AppendResponse::Rejected {
            rejected: Index::new(9),
            hint: id(2, 5),
        }),
        MessageBody::Heartbeat(Heartbeat {
            commit_index: Index::new(6),
            read_round: 42,
        }),
        MessageBody::HeartbeatResponse(HeartbeatResponse { read_round: 42 }),
        MessageBody::InstallSnapshot(InstallSnapshot {
            meta: SnapshotMeta {
                last: id(3, 100),
                conf_state: joint,
            },
        }),
        MessageBody::TimeoutNow,
        MessageBody::ReadIndexRequest(ReadIndexRequest {
            request: 77,
            incarnation: 0xfeed_beef,
        }),
        MessageBody::ReadIndexResponse(ReadIndexResponse {
            request: 77,
            incarnation: 0xfeed_beef,
            read_index: Some(Index::new(12)),
        }),
        MessageBody::ReadIndexResponse(ReadIndexResponse {
            request: 78,
            incarnation: u64::MAX,
            read_index: None,
        }),
    ]
}

fn envelope(group: u64, body: MessageBody) -> Envelope {
    Envelope {
        group: GroupId::new(group),
        message: Message {
            from: NodeId::new(1),
            to: NodeId::new(2),
            term: Term::new(3),
            body,
        },
    }
}

fn encode(frame: &Frame) -> BytesMut {
    let mut buf = BytesMut::new();
    FrameCodec::default()
        .encode(frame, &mut buf)
        .expect("encodes");
    buf
}

fn decode_all(mut buf: BytesMut) -> Result<Vec<Frame>, FrameError> {
    let mut codec = FrameCodec::default();
    let mut frames = Vec::new();
    while let Some(frame) = codec.decode_eof(&mut buf)? {
        frames.push(frame);
    }
    Ok(frames)
}

/// Frames a raw payload with a correct header, to test what lies past the CRC.
fn framed_payload(payload: &[u8]) -> BytesMut {
    let mut buf = BytesMut::new();
    buf.put_u32(u32::try_from(payload.len()).expect("small"));
    buf.put_u32(crc32c::crc32c(payload));
    buf.put_slice(payload);
    buf
}

fn wire_envelope_with(body: WireBody) -> WireFrame {
    let mut env = WireEnvelope::from(&envelope(1, MessageBody::TimeoutNow));
    env.body = Some(body);
    WireFrame {
        kind: Some(WireFrameKind::Batch(quorate::wire::frame::WireBatch {
            envelopes: vec![env],
        })),
    }
}

#[test]
fn every_message_kind_round_trips_through_the_codec() {
    for (group, body) in every_body().into_iter().enumerate() {
        let frame = Frame::Batch(vec![envelope(group as u64, body)]);
        let decoded = decode_all(encode(&frame)).expect("decodes");
        assert_eq!(decoded, vec![frame]);
    }
}

#[test]
fn a_batch_of_many_groups_round_trips_in_order() {
    let batch: Vec<Envelope> = every_body()
        .into_iter()
        .enumerate()
        .map(|(g, b)| envelope(g as u64 * 1000, b))
        .collect();
    let frame = Frame::Batch(batch);
    assert_eq!(decode_all(encode(&frame)).expect("decodes"), vec![frame]);
}

#[test]
fn control_frames_round_trip_through_the_codec() {
    let header = envelope(9, every_body().swap_remove(9));
    let frames = vec![
        Frame::Handshake(Handshake::new(77, NodeId::new(1), NodeId::new(2))),
        Frame::SnapshotChunk(SnapshotChunk {
            stream: 5,
            seq: 0,
            data: Bytes::from_static(b"abc"),
            header: Some(header),
            trailer: None,
        }),
        Frame::SnapshotChunk(SnapshotChunk {
            stream: 5,
            seq: 1,
            data: Bytes::from_static(b"def"),
            header: None,
            trailer: Some(SnapshotTrailer {
                total_bytes: 6,
                checksum: crc32c::crc32c(b"abcdef"),
            }),
        }),
        Frame::SnapshotAck(SnapshotAck {
            stream: 5,
            seq: 1,
            done: true,
        }),
        Frame::SnapshotAbort(SnapshotAbort {
            stream: 5,
            reason: 2,
        }),
    ];
    let mut buf = BytesMut::new();
    for frame in &frames {
        buf.extend_from_slice(&encode(frame));
    }
    assert_eq!(decode_all(buf).expect("decodes"), frames);
}

#[test]
fn a_frame_split_anywhere_decodes_once_complete() {
    let bytes = encode(&Frame::Batch(vec![envelope(
        1,
        every_body().swap_remove(4),
    )]));
    for cut in 0..bytes.len() {
        let mut codec = FrameCodec::default();
        let mut buf = BytesMut::from(&bytes[..cut]);
        assert!(codec
            .decode(&mut buf)
            .expect("no error on a prefix")
            .is_none());
        buf.extend_from_slice(&bytes[cut..]);
        assert!(codec.decode(&mut buf).expect("decodes").is_some());
    }
}

#[test]
fn a_corrupted_payload_fails_the_checksum() {
    let mut bytes = encode(&Frame::Batch(vec![envelope(1, MessageBody::TimeoutNow)]));
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    assert!(matches!(
        decode_all(bytes),
        Err(FrameError::Checksum { .. })
    ));
}

#[test]
fn a_stream_ending_inside_a_frame_is_truncated() {
    let bytes = encode(&Frame::Batch(vec![envelope(1, MessageBody::TimeoutNow)]));
    for cut in 1..bytes.len() {
        let result = decode_all(BytesMut::from(&bytes[..cut]));
        assert!(
            matches!(result, Err(FrameError::Truncated { .. })),
            "cut at {cut}: {result:?}"
        );
    }
}

#[test]
fn an_oversize_length_is_refused_before_buffering_the_payload() {
    let mut codec = FrameCodec::new(1024);
    let mut buf = BytesMut::new();
    buf.put_u32(1025);
    buf.put_u32(0);
    let capacity = buf.capacity();
    assert!(matches!(
        codec.decode(&mut buf),
        Err(FrameError::TooLong {
            length: 1025,
            limit: 1024
        })
    ));
    assert_eq!(
        buf.capacity(),
        capacity,
        "no allocation for a refused length"
    );
}

#[test]
fn an_oversize_frame_is_refused_when_encoding() {
    let big = Entry {
        term: Term::new(1),
        index: Index::new(1),
        kind: EntryKind::Normal,
        data: Bytes::from(vec![0u8; 2048]),
    };
    let frame = Frame::Batch(vec![envelope(
        1,
        MessageBody::AppendRequest(AppendRequest {
            prev_log: id(0, 0),
            entries: vec![big],
            leader_commit: Index::ZERO,
        }),
    )]);
    let mut buf = BytesMut::new();
    let result = FrameCodec::new(1024).encode(&frame, &mut buf);
    assert!(matches!(
        result,
        Err(FrameError::TooLong { limit: 1024, .. })
    ));
}

#[test]
fn garbage_with_a_valid_checksum_is_not_protobuf() {
    let result = decode_all(framed_payload(&[0xff, 0xff, 0xff, 0xff, 0xff]));
    assert!(
        matches!(result, Err(FrameError::Protobuf { .. })),
        "{result:?}"
    );
}

#[test]
fn an_empty_payload_names_no_frame_kind() {
    assert!(matches!(
        decode_all(framed_payload(&[])),
        Err(FrameError::MissingKind)
    ));
}

#[test]
fn an_unknown_entry_kind_is_refused() {
    let body = WireBody::AppendRequest(quorate::wire::message::WireAppendRequest {
        prev_log_term: 0,
        prev_log_index: 0,
        entries: vec![WireEntry {
            term: 1,
            index: 1,
            kind: 9,
            data: Bytes::new(),
        }],
        leader_commit: 0,
    });
    let payload = wire_envelope_with(body).encode_to_vec();
    let result = decode_all(framed_payload(&payload));
    assert!(matches!(
        result,
        Err(FrameError::Message {
            source: MessageDecodeError::UnknownEntryKind { code: 9 }
        })
    ));
}

#[test]
fn an_inconsistent_snapshot_configuration_is_refused() {
    let conf = WireConfState {
        voters: vec![1],
        learners: vec![1],
        ..WireConfState::default()
    };
    let body = WireBody::InstallSnapshot(WireSnapshotMeta {
        last_term: 1,
        last_index: 5,
        conf_state: Some(conf),
    });
    let result = decode_all(framed_payload(&wire_envelope_with(body).encode_to_vec()));
    assert!(matches!(
        result,
        Err(FrameError::Message {
            source: MessageDecodeError::InvalidConfState { .. }
        })
    ));
}

#[test]
fn a_snapshot_without_configuration_or_a_message_without_body_is_refused() {
    let body = WireBody::InstallSnapshot(WireSnapshotMeta {
        last_term: 1,
        last_index: 5,
        conf_state: None,
    });
    let result = decode_all(framed_payload(&wire_envelope_with(body).encode_to_vec()));
    assert!(matches!(
        result,
        Err(FrameError::Message {
            source: MessageDecodeError::MissingField {
                field: "conf_state"
            }
        })
    ));
    let mut frame = wire_envelope_with(WireBody::TimeoutNow(
        quorate::wire::message::WireTimeoutNow {},
    ));
    if let Some(WireFrameKind::Batch(batch)) = &mut frame.kind {
        batch.envelopes[0].body = None;
    }
    let result = decode_all(framed_payload(&frame.encode_to_vec()));
    assert!(matches!(
        result,
        Err(FrameError::Message {
            source: MessageDecodeError::MissingField { field: "body" }
        })
    ));
}

#[test]
fn a_message_from_node_zero_is_refused() {
    let mut frame = wire_envelope_with(WireBody::TimeoutNow(
        quorate::wire::message::WireTimeoutNow {},
    ));
    if let Some(WireFrameKind::Batch(batch)) = &mut frame.kind {
        batch.envelopes[0].from = 0;
    }
    let result = decode_all(framed_payload(&frame.encode_to_vec()));
    assert!(matches!(
        result,
        Err(FrameError::Message {
            source: MessageDecodeError::ReservedNodeId { field: "from", .. }
        })
    ));
}

proptest! {
    /// Arbitrary bytes never panic the decoder, whatever the chunking.
    #[test]
    fn random_bytes_never_panic_the_decoder(data in proptest::collection::vec(any::<u8>(), 0..4096), split in 0usize..4096) {
        let mut codec = FrameCodec::new(1 << 16);
        let split = split.min(data.len());
        let mut buf = BytesMut::from(&data[..split]);
        let mut failed = false;
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(_)) => continue,
                Ok(None) => break,
                Err(_) => { failed = true; break; }
            }
        }
        if !failed {
            buf.extend_from_slice(&data[split..]);
            while let Ok(Some(_)) = codec.decode_eof(&mut buf) {}
        }
    }

    /// Random payloads behind a valid header and checksum reach the protobuf
    /// and message validation layers, which must not panic either.
    #[test]
    fn random_payloads_with_valid_checksums_never_panic(payload in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = decode_all(framed_payload(&payload));
    }

    /// Mutating one byte of a valid frame yields either a valid frame or a typed error.
    #[test]
    fn flipped_bytes_in_a_valid_frame_never_panic(position in 0usize..10_000, bit in 0u8..8) {
        let mut bytes = encode(&Frame::Batch(every_body().into_iter().map(|b| envelope(1, b)).collect()));
        let position = position % bytes.len();
        bytes[position] ^= 1 << bit;
        let _ = decode_all(bytes);
    }
}
