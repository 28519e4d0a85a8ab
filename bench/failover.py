#!/usr/bin/env python3
"""Repeated leader kills on three real `quorate serve` processes.

Starts a 3-node cluster on loopback, then CYCLES times: finds the leader,
kills it with SIGKILL, polls the survivors every 5 ms until both name the
same new leader, restarts the killed node and waits for it to be ready.
Prints, per cycle, the leaderless time and how many terms the election
took (more than one means a split vote or a failed round), then a summary.

Usage: python3 bench/failover.py [--binary target/release/quorate]
       [--cycles 30] [--election-timeout-ms 150]
Needs only Python 3's standard library and a built `quorate` binary.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status(url):
    try:
        with urllib.request.urlopen(url + "/v1/cluster", timeout=0.5) as r:
            return json.load(r)
    except Exception:
        return None


def ready(url):
    try:
        with urllib.request.urlopen(url + "/ready", timeout=0.5) as r:
            return r.status == 200
    except Exception:
        return False


def wait(what, check, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.005)
    sys.exit(f"timed out waiting for {what}")


class Node:
    def __init__(self, binary, root, node_id, initial, election_ms):
        self.id = node_id
        self.peer = initial[node_id]
        self.client_port = free_port()
        self.url = f"http://127.0.0.1:{self.client_port}"
        self.args = [
            binary, "serve", "--node-id", str(node_id),
            "--data-dir", os.path.join(root, f"node-{node_id}"),
            "--listen-peer", self.peer,
            "--listen-client", f"127.0.0.1:{self.client_port}",
            "--initial-cluster", ",".join(f"{i}={a}" for i, a in initial.items()),
            "--election-timeout-ms", str(election_ms),
        ]
        self.log = open(os.path.join(root, f"node-{node_id}.log"), "ab")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=self.log)

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


def agreed_leader(nodes):
    views = [status(n.url) for n in nodes]
    if any(v is None or v.get("leader_id") is None for v in views):
        return None
    leaders = {(v["leader_id"], v["term"]) for v in views}
    return leaders.pop() if len(leaders) == 1 else None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default="target/release/quorate")
    parser.add_argument("--cycles", type=int, default=30)
    parser.add_argument("--election-timeout-ms", type=int, default=150)
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="quorate-failover-")
    initial = {i: f"127.0.0.1:{free_port()}" for i in (1, 2, 3)}
    nodes = {i: Node(args.binary, root, i, initial, args.election_timeout_ms) for i in initial}
    for node in nodes.values():
        node.start()
    try:
        for node in nodes.values():
            wait(f"node {node.id} ready", lambda n=node: ready(n.url))
        rows = []
        for cycle in range(1, args.cycles + 1):
            leader, term = wait("an agreed leader", lambda: agreed_leader(nodes.values()))
            killed = nodes[leader]
            survivors = [n for n in nodes.values() if n.id != leader]
            started = time.monotonic()
            killed.kill()
            new_leader, new_term = wait(
                "a new leader", lambda: (lambda a: a if a and a[0] != leader else None)(
                    agreed_leader(survivors)))
            leaderless_ms = (time.monotonic() - started) * 1000
            rows.append((cycle, leader, new_leader, leaderless_ms, new_term - term))
            print(f"cycle {cycle:3}: killed n{leader} -> n{new_leader} "
                  f"leaderless {leaderless_ms:6.0f} ms, terms {new_term - term}", flush=True)
            killed.start()
            wait(f"node {killed.id} ready", lambda: ready(killed.url))
        times = sorted(r[3] for r in rows)
        splits = [r for r in rows if r[4] > 1]
        timeout_max = 2 * args.election_timeout_ms
        print(f"cycles={len(rows)} leaderless_ms p50={times[len(times) // 2]:.0f} "
              f"max={times[-1]:.0f} multi_term_elections={len(splits)} "
              f"max_terms={max(r[4] for r in rows)} "
              f"over_detection_plus_2_timeouts="
              f"{sum(1 for t in times if t > timeout_max + 2 * timeout_max)}")
    finally:
        for node in nodes.values():
            if node.proc and node.proc.poll() is None:
                node.kill()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
