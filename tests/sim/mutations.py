#!/usr/bin/env python3
"""The simulator's mutation check (docs/simulation.md): plants one bug in
the server, runs `cargo test --test sim sim_seeds` with up to N seeds
(default 1000), prints the first seed that caught it, and takes the plant
out again, whatever happened.

    python3 tests/sim/mutations.py since-off-by-one [N]
    python3 tests/sim/mutations.py all [N]
"""
import subprocess, sys, re, os
ROOT=os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
plants = {
 'head-dropped-on-cut': ('src/engine/websocket.rs',
   '        self.out.protect();\n        let session = Session::new',
   '        let session = Session::new'),
 'restore-skips-a-message': ('src/broker.rs',
   '            .find_or_create_after(name, id.saturating_sub(1))\n            .map_err(|_| AppendError::NoSuchChannel)?;\n        self.append(channel, id, data, now).map(|_| ())',
   '            .find_or_create_after(name, id.saturating_sub(1))\n            .map_err(|_| AppendError::NoSuchChannel)?;\n        if id % 7 == 0 { return Ok(()); }\n        self.append(channel, id, data, now).map(|_| ())'),
 'idle-deadline-halved': ('src/engine/conn.rs',
   '        self.state = State::Idle;\n        cx.deadline = Some(cx.now + cx.config.idle_timeout);\n    }\n}',
   '        self.state = State::Idle;\n        cx.deadline = Some(cx.now + cx.config.idle_timeout / 2);\n    }\n}'),
 'since-off-by-one': ('src/broker.rs',
   'let since = if since == 0 { self.origin } else { since };',
   'let since = if since == 0 { self.origin } else { since.saturating_add(1) };'),
 'skipped-gap-signal': ('src/engine/stream.rs',
   '        if backlog.gap {\n            let oldest',
   '        if false && backlog.gap {\n            let oldest'),
 'deadline-from-wrong-time': ('src/engine/stream.rs',
   'let next_beat = (stream.last_sent + cx.config.heartbeat).max(cx.now + TICK);',
   'let next_beat = (cx.now + cx.config.heartbeat).max(cx.now + TICK);'),
 'dropped-on-slow-path': ('src/engine/stream.rs',
   '        if self.is_too_slow_for(message.sse_chunk().len(), cx) {\n',
   '        if self.is_too_slow_for(message.sse_chunk().len(), cx) {\n            return Fed::Skipped;\n'),
 'cluster-bus-drops-every-fifth': ('src/cluster.rs',
   '        *last = id;\n        self.stats.from_bus',
   '        if !mine && id % 5 == 0 { return; }\n        *last = id;\n        self.stats.from_bus'),
 'ack-before-commit': ('src/engine/mod.rs',
   '        self.store.append(Append {\n            ticket,',
   '        if let Origin::Embedder(token) = origin {\n            self.events.push_back(Event::Published { token, outcome: Ok(last_id + 1) });\n        }\n        self.store.append(Append {\n            ticket,'),
}
extra = {
 'ack-before-commit': ('src/engine/mod.rs',
   '                self.events.push_back(Event::Published { token, outcome });\n            }\n        }\n    }',
   '                let _ = (token, outcome);\n            }\n        }\n    }'),
}
# Plants in the cluster's code run the clients on a cluster.
cluster = {'cluster-bus-drops-every-fifth'}
names = list(plants) if sys.argv[1] == 'all' else [sys.argv[1]]
seeds = sys.argv[2] if len(sys.argv) > 2 else '1000'
def patch(f, a, b):
    p = os.path.join(ROOT, f); s = open(p).read()
    assert s.count(a) == 1, (name, f, a[:40])
    open(p, 'w').write(s.replace(a, b))
for name in names:
    changes = [plants[name]] + ([extra[name]] if name in extra else [])
    for f, a, b in changes: patch(f, a, b)
    try:
        test, var = (('sim_cluster_clients', 'PUSHWIRE_SIM_CLUSTER_SEEDS') if name in cluster
                     else ('sim_seeds', 'PUSHWIRE_SIM_SEEDS'))
        r = subprocess.run(['cargo','test','-q','--test','sim',test], cwd=ROOT,
            env=dict(os.environ, **{var: seeds}), capture_output=True, text=True)
        out = r.stdout + r.stderr
        m = re.search(r'seed (\d+) broke a rule.*?\n(.*?)\n', out, re.S)
        if m: print(f'{name}: caught by seed {m.group(1)}: {m.group(2).strip()}')
        elif 'error[' in out: print(name, 'BUILD ERROR', out[-2000:])
        else: print(f'{name}: NOT caught in {seeds} seeds')
    finally:
        for f, a, b in reversed(changes): patch(f, b, a)
