import BenchSupport
import DBPool

// A small release driver for `valgrind --tool=callgrind`: runs one workload N times with no
// benchmark harness around it. Usage: CallgrindDriver <w1|w1with|w1async|w3> [count]
let args = CommandLine.arguments
let workload = args.count > 1 ? args[1] : "w1"
let count = args.count > 2 ? Int(args[2])! : 100_000

let pool = makeQueuePool()
prefill(pool, count: 4)

switch workload {
case "w1":
    for _ in 0..<count {
        let fairy = try pool.connect()
        fairy.close()
    }
case "w1with":
    for _ in 0..<count { try pool.withConnection { _ in } }
case "w1async":
    for _ in 0..<count {
        let fairy = try await pool.connect()
        fairy.close()
    }
case "w3":
    let run = await contendedTasks(pool, tasks: 1000, cycles: count)
    print("W3 wall \(run.wallNs / 1_000_000) ms")
    run.free()
case "w2":
    let run = contendedThreads(pool, threads: 8, cycles: count)
    print("W2 wall \(run.wallNs / 1_000_000) ms")
    run.free()
default:
    fatalError("unknown workload \(workload)")
}
print("done \(workload) x \(count)")
