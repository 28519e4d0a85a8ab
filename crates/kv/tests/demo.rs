//! `quorate demo --quick` end to end: three real server processes, a
//! leader killed with SIGKILL and restarted, and a history that must check
//! linearizable. Also checks the demo cleans up after itself.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Far above the ~20 s the quick demo takes, for a loaded CI machine.
const DEMO_TIMEOUT: Duration = Duration::from_secs(180);

/// Runs the binary with `args`; kills it with SIGKILL and fails the test
/// if it is still running after `DEMO_TIMEOUT`.
fn run_with_deadline(args: &[&str]) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_quorate"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the quorate binary starts");
    let pid = child.id();
    let (sender, receiver) = mpsc::sync_channel(1);
    std::thread::spawn(move || {
        let _ = sender.send(child.wait_with_output());
    });
    match receiver.recv_timeout(DEMO_TIMEOUT) {
        Ok(output) => output.expect("the demo's output is readable"),
        Err(_) => {
            let pid = i32::try_from(pid).expect("pid fits in pid_t");
            // SAFETY: kill(2) on the pid of a child this test started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("quorate {args:?} ran longer than {DEMO_TIMEOUT:?}");
        }
    }
}

#[test]
fn quick_demo_survives_a_leader_crash_and_checks_linearizable() {
    let output = run_with_deadline(&["demo", "--quick"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "demo failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    for expected in [
        "status page: http://127.0.0.1:",
        "killed leader node",
        "caught up",
        "failover",
        "linearizable: yes",
    ] {
        assert!(stdout.contains(expected), "no {expected:?} in:\n{stdout}");
    }
    let root = stdout
        .lines()
        .find_map(|line| line.strip_prefix("started 3 quorate nodes under "))
        .expect("the demo names its directory");
    assert!(
        !Path::new(root.trim()).exists(),
        "the demo left {root} behind"
    );
}

#[test]
fn demo_refuses_a_zero_duration() {
    let output = run_with_deadline(&["demo", "--duration", "0"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--duration"), "{stderr}");
}
