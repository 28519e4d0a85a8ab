//! Records what the demo's clients asked and were told, in the form the
//! linearizability checker reads.
//!
//! Times are microseconds since the recorder was made, from a monotonic
//! clock. The clock is read while the history's lock is held, so recording
//! order and time order agree: an answer recorded before an invoke really
//! came first, which is what the checker assumes of events with equal
//! times.
//!
//! The difficult part is a request that got no clean answer. What the
//! client was told decides what the checker may assume:
//! - the server said the write was proposed but its commit was not seen
//!   (504 `indeterminate`), or the request failed or timed out after it was
//!   sent: the write may apply at any later moment, or never, so it is
//!   recorded as indeterminate;
//! - the server refused it before proposing (503, a redirect not followed,
//!   any 4xx) or no connection could be opened: it never applied, so it is
//!   recorded as failed;
//! - a read that failed changed nothing, so it is failed whatever the error.

use quorate_check::history::{ClientId, History, Op, OpId, Output};
use quorate_kv::cli::ClientError;
use std::sync::{Mutex, MutexGuard, PoisonError};
use tokio::time::Instant;

/// What a failed request is recorded as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// It may or may not have taken effect.
    Indeterminate,
    /// It definitely did not take effect.
    NotApplied,
}

/// Decides what a failed request is recorded as; see the module docs.
pub fn classify(op: &Op, error: &ClientError) -> Failure {
    if op.is_read_only() {
        return Failure::NotApplied;
    }
    match error {
        ClientError::Api { body, .. } if body.indeterminate => Failure::Indeterminate,
        ClientError::Unexpected { status, .. } if !status.is_client_error() => {
            Failure::Indeterminate
        }
        ClientError::Api { .. }
        | ClientError::Unexpected { .. }
        | ClientError::NoEndpoints
        | ClientError::InvalidEndpoint { .. }
        | ClientError::Unreachable { .. }
        | ClientError::NoLeader { .. }
        | ClientError::TooManyRedirects { .. }
        | ClientError::BadRedirect
        | ClientError::InvalidHeader { .. } => Failure::NotApplied,
        // Sent but unanswered, answered with a body we could not read, or
        // an error this version does not know: assume it may have applied.
        _ => Failure::Indeterminate,
    }
}

/// A shared, append-only client history.
#[derive(Debug)]
pub struct Recorder {
    start: Instant,
    history: Mutex<History>,
}

impl Default for Recorder {
    fn default() -> Recorder {
        Recorder::new()
    }
}

impl Recorder {
    /// A recorder whose time zero is now.
    pub fn new() -> Recorder {
        Recorder {
            start: Instant::now(),
            history: Mutex::new(History::new()),
        }
    }

    /// Records that `client` is about to send `op`. Call it right before
    /// sending, so the invoke time is no later than the real send.
    pub fn invoke(&self, client: u64, op: Op) -> OpId {
        let mut history = self.lock();
        let time = self.now_us();
        history.invoke(ClientId(client), op, time)
    }

    /// Records the answer to `id`. Call it right after the answer arrived.
    pub fn complete(&self, id: OpId, output: Output) {
        let mut history = self.lock();
        let time = self.now_us();
        history.complete(id, output, time);
    }

    /// Records that `id` got no answer, as [`classify`] decided.
    pub fn fail(&self, id: OpId, failure: Failure) {
        let mut history = self.lock();
        match failure {
            Failure::Indeterminate => history.indeterminate(id),
            Failure::NotApplied => history.fail(id),
        }
    }

    /// The history so far. Operations still pending count as
    /// indeterminate in the check.
    pub fn snapshot(&self) -> History {
        self.lock().clone()
    }

    fn now_us(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// The history; a panic in another client cannot leave it half
    /// written (every update is one call), so a poisoned lock is usable.
    fn lock(&self) -> MutexGuard<'_, History> {
        self.history.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use quorate_check::history::Outcome;
    use quorate_check::linearizability::{check, CheckConfig};
    use quorate_kv::api::{ErrorBody, Outcome as ApiOutcome};
    use std::time::Duration;

    fn api_error(status: StatusCode, code: &str, outcome: ApiOutcome) -> ClientError {
        ClientError::Api {
            status,
            body: ErrorBody {
                code: code.to_owned(),
                message: String::new(),
                detail: None,
                outcome,
                indeterminate: outcome == ApiOutcome::Indeterminate,
                leader_url: None,
                retry_after_s: None,
            },
        }
    }

    #[test]
    fn writes_are_indeterminate_only_when_they_may_have_applied() {
        let put = Op::Put { key: 1, value: 7 };
        let unknown = api_error(
            StatusCode::GATEWAY_TIMEOUT,
            "indeterminate",
            ApiOutcome::Indeterminate,
        );
        let timeout = ClientError::Timeout {
            endpoint: "http://127.0.0.1:1".to_owned(),
            timeout: Duration::from_secs(1),
        };
        let cut = ClientError::Transport {
            endpoint: "http://127.0.0.1:1".to_owned(),
            detail: "connection reset".to_owned(),
        };
        for error in [&unknown, &timeout, &cut] {
            assert_eq!(classify(&put, error), Failure::Indeterminate, "{error}");
        }
        let busy = api_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            ApiOutcome::NotApplied,
        );
        let bad = api_error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            ApiOutcome::NotApplied,
        );
        let refused = [
            busy,
            bad,
            ClientError::NoLeader { attempts: 3 },
            ClientError::TooManyRedirects { limit: 5 },
            ClientError::Unreachable {
                attempts: 3,
                last: "refused".to_owned(),
            },
        ];
        for error in &refused {
            assert_eq!(classify(&put, error), Failure::NotApplied, "{error}");
        }
        let get = Op::Get { key: 1 };
        assert_eq!(classify(&get, &timeout), Failure::NotApplied);
        assert_eq!(classify(&get, &unknown), Failure::NotApplied);
    }

    #[test]
    fn history_records_answers_unknowns_and_refusals() {
        let recorder = Recorder::new();
        let written = recorder.invoke(1, Op::Put { key: 1, value: 10 });
        recorder.complete(written, Output::Written);
        let unknown = recorder.invoke(2, Op::Put { key: 1, value: 20 });
        recorder.fail(unknown, Failure::Indeterminate);
        let refused = recorder.invoke(3, Op::Put { key: 1, value: 30 });
        recorder.fail(refused, Failure::NotApplied);
        // The indeterminate write applied after all; the refused one never.
        let read = recorder.invoke(1, Op::Get { key: 1 });
        recorder.complete(read, Output::Read(Some(20)));
        let history = recorder.snapshot();
        assert_eq!(history.len(), 4);
        assert_eq!(history.record(unknown).outcome(), Outcome::Indeterminate);
        assert_eq!(history.record(refused).outcome(), Outcome::Failed);
        let read_record = history.record(read);
        assert!(read_record.invoke_time() >= history.record(written).invoke_time());
        assert!(check(&history, &CheckConfig::default()).is_linearizable());

        // Reading the refused write's value is a violation the checker sees.
        let recorder_bad = Recorder::new();
        let refused = recorder_bad.invoke(3, Op::Put { key: 1, value: 30 });
        recorder_bad.fail(refused, Failure::NotApplied);
        let read = recorder_bad.invoke(1, Op::Get { key: 1 });
        recorder_bad.complete(read, Output::Read(Some(30)));
        assert!(!check(&recorder_bad.snapshot(), &CheckConfig::default()).is_linearizable());
    }
}
