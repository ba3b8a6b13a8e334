#!/usr/bin/env python3
"""Turns package-benchmark's JMH export plus the contended-run wait statistics into the markdown
report printed by ./run. Usage: report.py RESULTS_DIR"""
import json, os, sys, glob

out = sys.argv[1]
UNITS = {"ns": 1, "μs": 1e3, "us": 1e3, "ms": 1e6, "s": 1e9}

def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if xs else None

bench = {}   # name -> {"wall_ns": per-iteration median, "mallocs": per-iteration median}
for path in glob.glob(os.path.join(out, "*.jmh.json")):
    for b in json.load(open(path)):
        name = b["benchmark"].split(".", 3)[3].replace("_", " ")
        entry = {}
        for key, m in b.get("secondaryMetrics", {}).items():
            raw = [x for run in m["rawData"] for x in run]
            if key.startswith("Time (wall clock)"):
                entry["wall_ns"] = median(raw) * UNITS.get(m["scoreUnit"], 1)
            elif key.startswith("Malloc (total)"):
                entry["mallocs"] = median(raw)
        bench[name] = entry

stats = {}
for path in glob.glob(os.path.join(out, "stats", "*.json")):
    s = json.load(open(path))
    stats[s["name"]] = s

machine = {}
if os.path.exists(os.path.join(out, "machine.txt")):
    for line in open(os.path.join(out, "machine.txt")):
        k, _, v = line.rstrip("\n").partition("=")
        machine[k] = v

# Ops per package-benchmark iteration: scaledIterations of .kilo benchmarks, or the cycles of a
# contended run (from its stats), or 1.
def ops(name):
    if name in stats:
        return stats[name]["cyclesPerIteration"]
    kilo = (name.startswith("W1") or name.startswith("W5 idle") or "enqueue+cancel" in name
            or name.startswith("PG W1") or name.startswith("AK W1"))
    return 1000 if kilo else 1

def ns_op(name):
    b = bench.get(name)
    if not b or "wall_ns" not in b: return None
    if name in stats:  # contended: our own wall clock (start signal to last worker done)
        return stats[name]["wallMedianNs"] / stats[name]["cyclesPerIteration"]
    return b["wall_ns"] / ops(name)

def allocs_op(name):
    b = bench.get(name)
    if not b or "mallocs" not in b: return None
    return b["mallocs"] / ops(name)

def f_ns(x):
    if x is None: return "n/a"
    if x >= 1e6: return f"{x/1e6:.2f} ms"
    if x >= 1e4: return f"{x/1e3:.1f} µs"
    if x >= 1e3: return f"{x/1e3:.2f} µs"
    return f"{x:.0f} ns"

def f_a(x):
    return "n/a" if x is None else (f"{x:.0f}" if x >= 10 else f"{x:.2f}".rstrip("0").rstrip("."))

def f_ratio(a, b):  # how many times faster ours (a) is than the peer (b), from costs
    if a is None or b is None or a == 0: return "n/a"
    return f"{b/a:.2f}×"

def f_rate(x):
    if x is None: return "n/a"
    return f"{x/1e6:.2f} M/s" if x >= 1e6 else f"{x/1e3:.0f} k/s"

def thr(name):
    s = stats.get(name)
    return s["throughputPerSec"] if s else None

lines = []
P = lines.append
P("# swift-db-pool benchmarks")
P("")
P(f"- Date: {machine.get('date','?')}")
P(f"- Machine: {machine.get('nproc','?')} cores, {machine.get('cpu','?')}, {machine.get('kernel','?')}")
P(f"- Toolchain: {machine.get('swift','?')}")
P(f"- Library: {machine.get('library','?')}")
P("- Peers: postgres-nio 1.33.2 `_ConnectionPoolModule.ConnectionPool` (PG), async-kit 1.22.0 `EventLoopConnectionPool` on one event loop (AK); all on no-op connections, 4 connections created before measuring.")
P("- Figures are medians over package-benchmark iterations (release build, malloc interposer on). \"×PG\"/\"×AK\" = peer cost ÷ our cost (above 1 = we are faster).")
P("")

P("## W1: one caller, QueuePool(4, 0), reset = rollback (no-op), no pre-ping")
P("")
P("| Workload | ours ns/op | ours allocs/op | PG ns/op | PG allocs/op | AK ns/op | AK allocs/op | ×PG | ×AK | target ≤100 ns, ≤1 alloc |")
P("|---|---|---|---|---|---|---|---|---|---|")
w1 = [
    ("W1 connect+close", "sync `connect()` + `close()`", "PG W1 lease+release", "AK W1 request+release on event loop"),
    ("W1 withConnection", "sync `withConnection {}`", "PG W1 withConnection", "AK W1 request+release on event loop"),
    ("W1 async connect+close", "async `connect()` + `close()`", "PG W1 lease+release", "AK W1 request+release from task"),
    ("W1 async withConnection", "async `withConnection {}`", "PG W1 withConnection", "AK W1 request+release from task"),
]
w1_met = True
for ours, label, pg, ak in w1:
    o, oa = ns_op(ours), allocs_op(ours)
    met = o is not None and o <= 100 and oa is not None and oa <= 1
    w1_met &= met
    P(f"| {label} | {f_ns(o)} | {f_a(oa)} | {f_ns(ns_op(pg))} | {f_a(allocs_op(pg))} | {f_ns(ns_op(ak))} | {f_a(allocs_op(ak))} | {f_ratio(o, ns_op(pg))} | {f_ratio(o, ns_op(ak))} | {'met' if met else 'MISSED'} |")
P("")
P("PG figures are async `leaseConnection()`+`release()` / `withConnection` in one task (its only API). AK: the sync rows compare against the loop running on the pool's own event loop (no thread hops: async-kit at its best); the async rows against `requestConnection().get()` from a task (two hops per cycle).")
P("")

P("## W2/W3: contended throughput (QueuePool(4, 0); peers with 4 connections)")
P("")
P("| Workload | ours cycles/s | ours allocs/cycle | PG cycles/s | AK cycles/s | ×PG | ×AK | target ≥2× both |")
P("|---|---|---|---|---|---|---|---|")
contended = [("W2 threads 2", "PG W2 tasks 2", "AK W2 tasks 2", "W2: 2 threads (peers: 2 tasks)"),
             ("W2 threads 8", "PG W2 tasks 8", "AK W2 tasks 8", "W2: 8 threads (peers: 8 tasks)"),
             ("W2 threads 64", "PG W2 tasks 64", "AK W2 tasks 64", "W2: 64 threads (peers: 64 tasks)"),
             ("W3 tasks 1000", "PG W3 tasks 1000", "AK W3 tasks 1000", "W3: 1,000 tasks")]
w23_met = True
for ours, pg, ak, label in contended:
    o, p, a = thr(ours), thr(pg), thr(ak)
    rp = o / p if o and p else None
    ra = o / a if o and a else None
    met = rp is not None and ra is not None and rp >= 2 and ra >= 2
    w23_met &= met
    P(f"| {label} | {f_rate(o)} | {f_a(allocs_op(ours))} | {f_rate(p)} | {f_rate(a)} | {f'{rp:.2f}×' if rp else 'n/a'} | {f'{ra:.2f}×' if ra else 'n/a'} | {'met' if met else 'MISSED'} |")
P("")
P("postgres-nio has no blocking API, so its (and async-kit's) W2 rows run the same number of concurrent tasks instead of threads; on this machine the cooperative pool has 2 threads.")
P("")

P("### Wait time per checkout, and the FIFO-ideal comparison")
P("")
P("Wait = time inside `connect()` / `leaseConnection()` / `requestConnection().get()`, measured per cycle with `clock_gettime(CLOCK_MONOTONIC)` (the same two clock reads per cycle in every pool).")
P("")
P("FIFO-ideal max wait = (waiters / poolSize) × mean hold time, where the hold time h is the effective time one connection is occupied per cycle, h = poolSize / throughput (Little's law: poolSize connections each complete throughput/poolSize cycles per second), so it includes the release and the hand-off to the next waiter, not only the caller's empty body. Then ideal = (N/P) × (P/X) = N / X: in a strict FIFO with N callers cycling continuously, a caller waits for at most the N − 1 others ahead of it, each served at rate X. The holder-measured hold (connect returned → close returned) is shown too. Target: max ≤ 3× ideal.")
P("")
P("Machine floor: the same threads running the same loop with no pool (two Mutex-protected increments, `W2 control threads N`) and with the simplest blocking pool, a counting semaphore of 4 permits (`W2 semaphore threads N`). Each control run is scaled to last as long as a run of our pool at the same N, because a run's worst wait depends on how many scheduler ticks it spans. With more threads than cores, a thread that is preempted inside the measured region records its whole time off the CPU as a wait, whatever it was waiting for; the controls show how long that is on this machine.")
P("")
P("Max is the longest wait over all runs; \"run max\" is the median over runs of each run's longest wait (one run = 50,000 cycles), which a single hiccup of the shared machine cannot move.")
P("")
P("| Pool / workload | workers N | throughput | p50 | p99 | max | run max | mean | holder-measured hold | h = P/X | ideal N/X | max ÷ ideal | run max ÷ ideal | floor run max: no pool / semaphore | run max ÷ no-pool floor |")
P("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
fifo_rows = []
floor_rows = []
rows = []
for ours, pg, ak, label in contended:
    rows += [ours, pg, ak]
    if ours == "W2 threads 64":
        rows.append("W2 strict threads 64")
for name in rows:
    s = stats.get(name)
    if not s: continue
    x = s["throughputPerSec"]
    h = s["poolSize"] / x * 1e9
    ideal = s["workers"] / x * 1e9
    ratio = s["waitMaxNs"] / ideal
    run_max = s.get("waitRunMaxMedianNs")
    run_ratio = run_max / ideal if run_max else None
    if "strict" not in name:
        fifo_rows.append((name, ratio, run_ratio))
    floor_cell, fratio = "", None
    if name.startswith("W2 "):
        c = stats.get(f"W2 control threads {s['workers']}")
        m = stats.get(f"W2 semaphore threads {s['workers']}")
        if c and m:
            floor_cell = f"{f_ns(c.get('waitRunMaxMedianNs'))} / {f_ns(m.get('waitRunMaxMedianNs'))}"
            fratio = run_max / c["waitRunMaxMedianNs"] if run_max and c.get("waitRunMaxMedianNs") else None
            if "strict" not in name:
                floor_rows.append((name, fratio))
    P(f"| {name} | {s['workers']} | {f_rate(x)} | {f_ns(s['waitP50Ns'])} | {f_ns(s['waitP99Ns'])} | {f_ns(s['waitMaxNs'])} | {f_ns(run_max)} | {f_ns(s['waitMeanNs'])} | {f_ns(s['holdMeanNs'])} | {f_ns(h)} | {f_ns(ideal)} | {ratio:.1f}× | {f'{run_ratio:.1f}×' if run_ratio else ''} | {floor_cell} | {f'{fratio:.2f}×' if fratio else ''} |")
P("")
P("`W2 strict threads 64` is W2 at 64 threads with `overtakeWindow: .zero` (strict first-come, first-served hand-off), for comparison with the default 1 ms window.")
P("")

P("## W4: SQLite file database, checkout + `SELECT 1` + checkin")
P("")
P("| Workload | ns/op | allocs/op | speed-up vs connect-per-op | target ≥10× |")
P("|---|---|---|---|---|")
base = ns_op("W4 SQLite connect-per-op SELECT 1")
w4_met = True
for name, label in [("W4 SQLite pooled SELECT 1", "pooled, QueuePool(4, 0)"),
                    ("W4 SQLite pooled SELECT 1 pre-ping", "pooled, pre-ping"),
                    ("W4 SQLite connect-per-op SELECT 1", "connect-per-operation (no pool)")]:
    o = ns_op(name)
    sp = base / o if o and base else None
    tgt = ""
    if "pooled" in name:
        ok = sp is not None and sp >= 10
        w4_met &= ok
        tgt = "met" if ok else "MISSED"
    P(f"| {label} | {f_ns(o)} | {f_a(allocs_op(name))} | {f'{sp:.1f}×' if sp else 'n/a'} | {tgt} |")
P("")

P("## W5: scaling (every pool operation should be O(1))")
P("")
P("| Workload | 1 | 16 | 256 | 4,096 | max ÷ min | target ≤1.5× |")
P("|---|---|---|---|---|---|---|")
vals = [ns_op(f"W5 idle {n} connect+close") for n in (1, 16, 256, 4096)]
alloc = [allocs_op(f"W5 idle {n} connect+close") for n in (1, 16, 256, 4096)]
def spread(vs):
    vs = [v for v in vs if v]
    return max(vs) / min(vs) if len(vs) >= 2 else None
sp = spread(vals)
w5_met = sp is not None and sp <= 1.5
P(f"| W1 cycle with N idle records (ns/op; allocs/op {', '.join(f_a(a) for a in alloc)}) | {' | '.join(f_ns(v) for v in vals)} | {f'{sp:.2f}×' if sp else 'n/a'} | {'met' if w5_met else 'MISSED'} |")
P("")
P("| Workload | 1 waiter | 100 waiters | 10,000 waiters | max ÷ min | target ≤1.5× |")
P("|---|---|---|---|---|---|")
for kind, label in [("enqueue+cancel", "enqueue + cancel (a task joins the back of the queue, is cancelled)"),
                    ("hand-off", "enqueue + hand-off (depth+1 tasks cycling over QueuePool(1, 0))")]:
    names = [f"W5 waiters {n} {kind}" for n in (1, 100, 10000)]
    vs = [ns_op(n) for n in names]
    als = [allocs_op(n) for n in names]
    s = spread(vs)
    ok = s is not None and s <= 1.5
    w5_met &= ok
    P(f"| {label}; ns/op (allocs/op {', '.join(f_a(a) for a in als)}) | {' | '.join(f_ns(v) for v in vs)} | {f'{s:.2f}×' if s else 'n/a'} | {'met' if ok else 'MISSED'} |")
P("")
P("Enqueue+cancel includes creating and awaiting the cancelled task; hand-off includes the waiter's resumption on the cooperative pool.")
P("")

P("## Targets")
P("")
fifo_ours = [(n, r, q) for n, r, q in fifo_rows if not n.startswith(("PG", "AK"))]
fifo_met = all(r <= 3 for n, r, q in fifo_ours) if fifo_ours else False
P(f"- W1 ≤ 100 ns median and ≤ 1 allocation per cycle: {'met' if w1_met else 'MISSED'}")
P(f"- W2/W3 ≥ 2× both peers' throughput: {'met' if w23_met else 'MISSED'}")
P(f"- W2/W3 max wait ≤ 3× FIFO-ideal: {'met' if fifo_met else 'MISSED'} (ours, max / run max: {', '.join(f'{n}: {r:.1f}× / {q:.1f}×' for n, r, q in fifo_ours)})")
P(f"- Blocking threads' run max against the no-pool floor of the same duration: {', '.join(f'{n}: {r:.2f}×' for n, r in floor_rows if r)}")
P(f"- W4 pooled ≥ 10× connect-per-op: {'met' if w4_met else 'MISSED'}")
P(f"- W5 flat within 1.5×: {'met' if w5_met else 'MISSED'}")
print("\n".join(lines))
