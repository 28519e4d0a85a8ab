use quorate_sim::history::{ClientId, History, Op, Output};
use quorate_sim::kv_model::KvState;
use quorate_sim::linearizability::{check, CheckConfig};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

// Five sequential clients; each op takes effect at a random instant inside
// its interval (linearization order = instant order), 300 ops, 10 keys.
fn build(seed: u64, indeterminate_pct: u64) -> History {
    build_with(seed, indeterminate_pct, 5, 10, false)
}
fn build_with(
    seed: u64,
    indeterminate_pct: u64,
    clients: u64,
    keys: u64,
    corrupt: bool,
) -> History {
    let mut rng = Rng(seed | 1);
    let mut free_at = vec![0u64; clients as usize];
    // plan: (client, invoke, instant, complete, op, indeterminate)
    let mut plan = Vec::new();
    let mut value = 0u64;
    for _ in 0..300 {
        let client = rng.next() % clients;
        let invoke = free_at[client as usize] + rng.next() % 5;
        let instant = invoke + 1 + rng.next() % 20;
        let complete = instant + 1 + rng.next() % 20;
        free_at[client as usize] = complete + 1;
        let key = rng.next() % keys;
        value += 1;
        let op = match rng.next() % 6 {
            0 | 1 => Op::Put { key, value },
            2 => Op::Delete { key },
            3 => Op::Cas {
                key,
                expected: if rng.next() % 2 == 0 {
                    None
                } else {
                    Some(value - 1)
                },
                new: Some(value),
            },
            _ => Op::Get { key },
        };
        let indeterminate = rng.next() % 100 < indeterminate_pct;
        plan.push((client, invoke, instant, complete, op, indeterminate));
    }
    let mut order: Vec<usize> = (0..plan.len()).collect();
    order.sort_by_key(|&i| (plan[i].2, i));
    let mut state = KvState::new();
    let mut outputs = vec![Output::Written; plan.len()];
    for &i in &order {
        outputs[i] = state.apply(&plan[i].4);
    }
    if corrupt {
        if let Some(i) = (0..plan.len())
            .rev()
            .find(|&i| matches!(plan[i].4, Op::Get { .. }) && !plan[i].5)
        {
            outputs[i] = Output::Read(Some(u64::MAX));
        }
    }
    let mut events = Vec::new();
    for (i, p) in plan.iter().enumerate() {
        events.push((p.1, 0, i));
        if !p.5 {
            events.push((p.3, 1, i));
        }
    }
    events.sort();
    let mut history = History::new();
    let mut ids = vec![None; plan.len()];
    for (t, kind, i) in events {
        if kind == 0 {
            let id = history.invoke(ClientId(plan[i].0), plan[i].4, t);
            ids[i] = Some(id);
            if plan[i].5 {
                history.indeterminate(id);
            }
        } else {
            history.complete(ids[i].unwrap(), outputs[i], t);
        }
    }
    history
}

#[test]
fn timing() {
    for pct in [0u64, 10] {
        let histories: Vec<History> = (1..=1000).map(|s| build(s * 7919, pct)).collect();
        let mut max_us = 0u128;
        let mut total = 0u128;
        for h in &histories {
            let start = std::time::Instant::now();
            let verdict = check(h, &CheckConfig::default());
            let us = start.elapsed().as_micros();
            assert!(verdict.is_linearizable(), "{verdict:?}");
            total += us;
            max_us = max_us.max(us);
        }
        println!(
            "indeterminate {pct}%: 1000 histories of 300 ops: mean {} us, max {} us",
            total / 1000,
            max_us
        );
    }
}

#[test]
fn timing_hard() {
    for (clients, keys, pct, corrupt) in [
        (5u64, 10u64, 0u64, true),
        (7, 5, 10, false),
        (7, 5, 10, true),
        (7, 1, 5, false),
        (7, 1, 5, true),
    ] {
        let histories: Vec<History> = (1..=200)
            .map(|s| build_with(s * 7919, pct, clients, keys, corrupt))
            .collect();
        let mut max_us = 0u128;
        let mut total = 0u128;
        let mut bad = 0;
        for h in &histories {
            let start = std::time::Instant::now();
            let verdict = check(h, &CheckConfig::default());
            let us = start.elapsed().as_micros();
            if !verdict.is_linearizable() {
                bad += 1;
            }
            if matches!(verdict, quorate_sim::linearizability::Verdict::Unknown(_)) {
                println!("UNKNOWN");
            }
            total += us;
            max_us = max_us.max(us);
        }
        println!("clients {clients} keys {keys} indet {pct}% corrupt {corrupt}: violations {bad}/200 mean {} us, max {} us", total / 200, max_us);
    }
    let h = build_with(7, 0, 5, 10, true);
    println!(
        "{}",
        check(&h, &CheckConfig::default()).violation().unwrap()
    );
}
