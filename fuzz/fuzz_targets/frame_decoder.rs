//! Feeds arbitrary bytes to the frame decoder, split at a fuzzer-chosen
//! point, the way a socket delivers them. The decoder must return frames or
//! a typed error, never panic, and never buffer past a refused length.
//!
//! Run with `cargo +nightly fuzz run frame_decoder` from this directory.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use quorate::wire::FrameCodec;
use tokio_util::codec::Decoder;

/// A small limit so the fuzzer reaches the oversize path quickly.
const FRAME_BYTES_MAX: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let Some((&split, data)) = data.split_first() else {
        return;
    };
    let split = usize::from(split).min(data.len());
    let mut codec = FrameCodec::new(FRAME_BYTES_MAX);
    let mut buf = BytesMut::from(&data[..split]);
    loop {
        match codec.decode(&mut buf) {
            Ok(Some(_)) => continue,
            Ok(None) => break,
            Err(_) => return,
        }
    }
    buf.extend_from_slice(&data[split..]);
    while let Ok(Some(_)) = codec.decode_eof(&mut buf) {}
});
