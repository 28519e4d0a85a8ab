//! Scenario files: multi-node protocol interactions written as scripts in
//! `testdata/*.txt` with their expected traces (etcd's interaction tests).
//! Run with `cargo test -p quorate-core scenario`; `REWRITE=1` regenerates
//! the expected output, and the diff is reviewed like code.
//!
//! Commands (node ids are bare numbers):
//! - `add-nodes N [voters=(..)] [learners=(..)] [pre-vote=false]
//!   [check-quorum=false] [append-bytes-max=B]`
//! - `log ID terms=(1,1,2)`: restart ID from a durable log with these terms,
//!   as a member that has held it for longer than an election timeout
//! - `campaign ID`, `tick ID [n=K]`, `tick-all [n=K]`
//! - `propose ID` (input: the payload), `conf-change ID [transition=..]`
//!   (input: ops such as `v4 l5 r1`, or `leave`)
//! - `read-index ID request=N [mode=lease]`, `transfer ID to=N`, `compact ID`
//! - `process-ready ID..`, `deliver-msgs`, `stabilize`
//! - `cut A B`, `isolate ID`, `heal`, `status`

use super::format;
use super::network::{n, Network};
use crate::*;
use datadriven::{walk, TestCase};
use std::collections::BTreeSet;

type Outcome = Result<String, String>;

/// The per-node settings `add-nodes` chose, reused when a node restarts.
#[derive(Clone, Copy, Default)]
struct Settings {
    no_pre_vote: bool,
    no_check_quorum: bool,
    append_bytes_max: Option<u64>,
}

impl Settings {
    fn apply(self, c: &mut Config) {
        c.pre_vote = !self.no_pre_vote;
        c.check_quorum = !self.no_check_quorum;
        if let Some(max) = self.append_bytes_max {
            c.append_bytes_max = max;
        }
    }
}

#[test]
fn scenarios() {
    walk("testdata", |file| {
        let mut net: Option<(Network, Settings)> = None;
        file.run(|case| match run(&mut net, case) {
            Ok(out) => out,
            Err(err) => format!("error: {err}\n"),
        });
    });
}

fn run(state: &mut Option<(Network, Settings)>, case: &mut TestCase) -> Outcome {
    if case.directive == "add-nodes" {
        let (net, settings) = add_nodes(case)?;
        let out = status(&net);
        *state = Some((net, settings));
        return Ok(out);
    }
    let (net, settings) = state.as_mut().ok_or("add-nodes first")?;
    net.trace = Some(String::new());
    let extra = command(net, *settings, case)?;
    let mut out = net.trace.take().unwrap_or_default();
    out.push_str(&extra);
    Ok(if out.is_empty() {
        "ok\n".to_string()
    } else {
        out
    })
}

fn command(net: &mut Network, settings: Settings, case: &mut TestCase) -> Outcome {
    let ids = node_ids(case);
    let first = ids.first().copied();
    let one = || first.ok_or_else(|| "a node id is required".to_string());
    match case.directive.as_str() {
        "log" => restart_with_log(net, settings, one()?, case),
        "campaign" => {
            net.node_mut(one()?).campaign();
            Ok(String::new())
        }
        "tick" => {
            let ticks = arg_u64(case, "n")?.unwrap_or(1) as u32;
            {
                net.tick(one()?, ticks);
                Ok(String::new())
            }
        }
        "tick-all" => {
            let ticks = arg_u64(case, "n")?.unwrap_or(1);
            let all: Vec<NodeId> = net.nodes.keys().copied().collect();
            for _ in 0..ticks {
                all.iter().for_each(|&id| net.node_mut(id).tick());
            }
            Ok(String::new())
        }
        "propose" => propose(net, one()?, case),
        "conf-change" => conf_change(net, one()?, case),
        "read-index" => read_index(net, one()?, case),
        "transfer" => {
            let to = arg_u64(case, "to")?.ok_or("to= is required")?;
            result(net.node_mut(one()?).transfer_leadership(n(to)))
        }
        "compact" => compact(net, one()?),
        "process-ready" => {
            ids.iter().for_each(|&id| {
                net.handle_ready(id);
            });
            Ok(String::new())
        }
        "deliver-msgs" => {
            let pending = net.queue.len();
            (0..pending).for_each(|_| {
                net.deliver_one();
            });
            Ok(String::new())
        }
        "stabilize" => {
            net.stabilize();
            Ok(String::new())
        }
        "cut" if ids.len() == 2 => {
            net.cut_link(ids[0], ids[1]);
            Ok(String::new())
        }
        "isolate" => {
            net.isolate(one()?);
            Ok(String::new())
        }
        "heal" => {
            net.heal();
            Ok(String::new())
        }
        "status" => Ok(status(net)),
        other => Err(format!("unknown command {other}")),
    }
}

fn result<E: std::fmt::Display>(r: Result<(), E>) -> Outcome {
    r.map(|()| String::new())
        .or_else(|err| Ok(format!("refused: {err}\n")))
}

/// Bare numeric arguments (node ids), ascending.
fn node_ids(case: &TestCase) -> Vec<NodeId> {
    let mut ids: Vec<u64> = case
        .args
        .iter()
        .filter(|(_, values)| values.is_empty())
        .filter_map(|(key, _)| key.parse::<u64>().ok())
        .collect();
    ids.sort_unstable();
    ids.into_iter().map(n).collect()
}

fn arg_u64(case: &mut TestCase, name: &str) -> Result<Option<u64>, String> {
    case.try_take_arg::<u64>(name).map_err(|e| e.to_string())
}

fn arg_list(case: &mut TestCase, name: &str) -> Result<Option<Vec<u64>>, String> {
    case.try_take_args::<u64>(name).map_err(|e| e.to_string())
}

fn arg_flag_false(case: &mut TestCase, name: &str) -> Result<bool, String> {
    Ok(case.try_take_arg::<bool>(name).map_err(|e| e.to_string())? == Some(false))
}

fn add_nodes(case: &mut TestCase) -> Result<(Network, Settings), String> {
    let count = node_ids(case).first().ok_or("add-nodes N")?.get();
    let voters = arg_list(case, "voters")?.unwrap_or_else(|| (1..=count).collect());
    let learners = arg_list(case, "learners")?.unwrap_or_default();
    let settings = Settings {
        no_pre_vote: arg_flag_false(case, "pre-vote")?,
        no_check_quorum: arg_flag_false(case, "check-quorum")?,
        append_bytes_max: arg_u64(case, "append-bytes-max")?,
    };
    let conf = ConfState {
        voters: voters.into_iter().map(n).collect(),
        learners: learners.into_iter().map(n).collect::<BTreeSet<_>>(),
        ..ConfState::default()
    };
    let ids: Vec<NodeId> = (1..=count).map(n).collect();
    let net = Network::with_members(&ids, &conf, |c| settings.apply(c));
    Ok((net, settings))
}

fn restart_with_log(
    net: &mut Network,
    settings: Settings,
    id: NodeId,
    case: &mut TestCase,
) -> Outcome {
    let terms = arg_list(case, "terms")?.ok_or("terms=(..) is required")?;
    let entries = super::network::log_with_terms(&terms);
    let term = terms.iter().copied().max().unwrap_or(0);
    let conf = net.node(id).conf_state().clone();
    let hard_state = HardState {
        current_term: Term::new(term),
        ..HardState::default()
    };
    net.add_node_with_log(id, conf, &entries, hard_state, |c| settings.apply(c));
    // The scenario sets up a member that has held this log for a while.
    net.node_mut(id).expire_restart_lease();
    Ok(format!("{}\n", format::node_state(net.node(id))))
}

fn propose(net: &mut Network, id: NodeId, case: &TestCase) -> Outcome {
    let data = bytes::Bytes::from(case.input.trim().to_string());
    match net.node_mut(id).propose(data) {
        Ok(at) => Ok(format!(
            "proposed at {}/{}\n",
            at.term.get(),
            at.index.get()
        )),
        Err(err) => Ok(format!("refused: {err}\n")),
    }
}

fn conf_change(net: &mut Network, id: NodeId, case: &mut TestCase) -> Outcome {
    let transition = match case
        .try_take_arg::<String>("transition")
        .map_err(|e| e.to_string())?
        .as_deref()
    {
        None | Some("auto") => ConfChangeTransition::Auto,
        Some("joint") => ConfChangeTransition::Joint,
        Some("explicit") => ConfChangeTransition::JointExplicit,
        Some(other) => return Err(format!("unknown transition {other}")),
    };
    let mut ops = Vec::new();
    for word in case.input.split_whitespace().filter(|w| *w != "leave") {
        let (kind, rest) = word.split_at(1);
        let node = n(rest.parse::<u64>().map_err(|e| e.to_string())?);
        ops.push(match kind {
            "v" => ConfChangeOp::AddVoter(node),
            "l" => ConfChangeOp::AddLearner(node),
            "r" => ConfChangeOp::Remove(node),
            _ => return Err(format!("unknown op {word}")),
        });
    }
    match net
        .node_mut(id)
        .propose_conf_change(&ConfChange { ops, transition })
    {
        Ok(at) => Ok(format!(
            "proposed at {}/{}\n",
            at.term.get(),
            at.index.get()
        )),
        Err(err) => Ok(format!("refused: {err}\n")),
    }
}

fn read_index(net: &mut Network, id: NodeId, case: &mut TestCase) -> Outcome {
    let request = arg_u64(case, "request")?.ok_or("request= is required")?;
    let mode = match case
        .try_take_arg::<String>("mode")
        .map_err(|e| e.to_string())?
        .as_deref()
    {
        Some("lease") => ReadMode::Lease,
        _ => ReadMode::Quorum,
    };
    result(net.node_mut(id).read_index(request, mode))
}

fn compact(net: &mut Network, id: NodeId) -> Outcome {
    let node = net.node_mut(id);
    let at = node.applied_index();
    match node.compact(at) {
        Ok(meta) => {
            node.store_mut().compact(meta.clone());
            Ok(format!(
                "compacted through {}/{}\n",
                meta.last.term.get(),
                meta.last.index.get()
            ))
        }
        Err(err) => Ok(format!("refused: {err}\n")),
    }
}

fn status(net: &Network) -> String {
    net.nodes
        .values()
        .map(|node| format!("{}\n", format::node_state(node)))
        .collect()
}
