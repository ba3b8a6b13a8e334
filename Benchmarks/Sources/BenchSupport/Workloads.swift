import Dispatch
import Synchronization
import DBPool
import _ConnectionPoolModule
import AsyncKit

/// One contended run: `workers` threads or tasks share `cycles` cycles (rounded up to a multiple
/// of `workers`). Returns the wall time from start to the last worker's end, every cycle's wait
/// (time inside connect()/lease) and each worker's summed hold time.
public struct ContendedRun {
    public let wallNs: UInt64
    public let waits: SharedBuffer
    public let holds: SharedBuffer
    public func free() { waits.free(); holds.free() }
}

@inline(__always)
func perWorker(_ cycles: Int, _ workers: Int) -> Int { (cycles + workers - 1) / workers }

/// W2: blocking threads over our QueuePool.
public func contendedThreads(_ pool: QueuePool<NoOpConnection>, threads: Int, cycles: Int) -> ContendedRun {
    let c = perWorker(cycles, threads)
    let waits = SharedBuffer(count: c * threads)
    let holds = SharedBuffer(count: threads)
    let wall = runOnThreads(threads) { i in
        let w = waits.slice(i, of: c)
        var hold: UInt64 = 0
        var t0 = nowNs()
        for j in 0..<c {
            let fairy = try! pool.connect()
            let t1 = nowNs()
            w[j] = t1 &- t0
            fairy.close()
            let t2 = nowNs()
            hold &+= t2 &- t1
            t0 = t2
        }
        holds.base[i] = hold
    }
    return ContendedRun(wallNs: wall, waits: waits, holds: holds)
}

/// The machine's share of W2's waits: the same threads and loop with the pool replaced by two
/// Mutex-protected increments (the pool takes its lock once in `connect()` and once in `close()`).
/// Nothing here waits for anything but that lock and the CPU, so the maximum "wait" it records is
/// what preemption alone costs on this machine at this thread count.
public func controlThreads(threads: Int, cycles: Int) -> ContendedRun {
    let c = perWorker(cycles, threads)
    let waits = SharedBuffer(count: c * threads)
    let holds = SharedBuffer(count: threads)
    let counter = Mutex<Int>(0)
    let wall = runOnThreads(threads) { i in
        let w = waits.slice(i, of: c)
        var hold: UInt64 = 0
        var t0 = nowNs()
        for j in 0..<c {
            counter.withLock { $0 &+= 1 }
            let t1 = nowNs()
            w[j] = t1 &- t0
            counter.withLock { $0 &+= 1 }
            let t2 = nowNs()
            hold &+= t2 &- t1
            t0 = t2
        }
        holds.base[i] = hold
    }
    return ContendedRun(wallNs: wall, waits: waits, holds: holds)
}

/// The simplest blocking pool there is, as a second control: a counting semaphore with `permits`
/// permits (wait = check out, signal = return), in the same loop. Its tail shows what any
/// blocking pool pays when threads outnumber cores and the scheduler preempts a thread that
/// holds a permit: the others wait for that thread's next time slice.
public func semaphoreThreads(threads: Int, permits: Int, cycles: Int) -> ContendedRun {
    let c = perWorker(cycles, threads)
    let waits = SharedBuffer(count: c * threads)
    let holds = SharedBuffer(count: threads)
    let semaphore = DispatchSemaphore(value: permits)
    let wall = runOnThreads(threads) { i in
        let w = waits.slice(i, of: c)
        var hold: UInt64 = 0
        var t0 = nowNs()
        for j in 0..<c {
            semaphore.wait()
            let t1 = nowNs()
            w[j] = t1 &- t0
            semaphore.signal()
            let t2 = nowNs()
            hold &+= t2 &- t1
            t0 = t2
        }
        holds.base[i] = hold
    }
    return ContendedRun(wallNs: wall, waits: waits, holds: holds)
}

/// Runs `body(i)` in `count` child tasks and returns the wall time until all have finished
/// (task creation included: about 1 µs per task, small against the cycles).
public func runOnTasks(_ count: Int, _ body: @escaping @Sendable (Int) async -> Void) async -> UInt64 {
    let start = nowNs()
    await withTaskGroup(of: Void.self) { group in
        for i in 0..<count { group.addTask { await body(i) } }
    }
    return nowNs() - start
}

/// W3 (and W5 hand-off): async tasks over our QueuePool.
public func contendedTasks(_ pool: QueuePool<NoOpConnection>, tasks: Int, cycles: Int) async -> ContendedRun {
    let c = perWorker(cycles, tasks)
    let waits = SharedBuffer(count: c * tasks)
    let holds = SharedBuffer(count: tasks)
    let wall = await runOnTasks(tasks) { i in
        let w = waits.slice(i, of: c)
        var hold: UInt64 = 0
        var t0 = nowNs()
        for j in 0..<c {
            let fairy = try! await pool.connect()
            let t1 = nowNs()
            w[j] = t1 &- t0
            fairy.close()
            let t2 = nowNs()
            hold &+= t2 &- t1
            t0 = t2
        }
        holds.base[i] = hold
    }
    return ContendedRun(wallNs: wall, waits: waits, holds: holds)
}

/// Peer: postgres-nio's pool, `tasks` tasks leasing and releasing.
public func contendedTasks(_ pool: PGPool, tasks: Int, cycles: Int) async -> ContendedRun {
    let c = perWorker(cycles, tasks)
    let waits = SharedBuffer(count: c * tasks)
    let holds = SharedBuffer(count: tasks)
    let wall = await runOnTasks(tasks) { i in
        let w = waits.slice(i, of: c)
        var hold: UInt64 = 0
        var t0 = nowNs()
        for j in 0..<c {
            let lease = try! await pool.leaseConnection()
            let t1 = nowNs()
            w[j] = t1 &- t0
            lease.release()
            let t2 = nowNs()
            hold &+= t2 &- t1
            t0 = t2
        }
        holds.base[i] = hold
    }
    return ContendedRun(wallNs: wall, waits: waits, holds: holds)
}

/// Peer: async-kit's pool, `tasks` tasks requesting (`.get()`) and releasing.
public func contendedTasks(_ pool: AKPool, tasks: Int, cycles: Int) async -> ContendedRun {
    let c = perWorker(cycles, tasks)
    let waits = SharedBuffer(count: c * tasks)
    let holds = SharedBuffer(count: tasks)
    let wall = await runOnTasks(tasks) { i in
        let w = waits.slice(i, of: c)
        var hold: UInt64 = 0
        var t0 = nowNs()
        for j in 0..<c {
            let connection = try! await pool.pool.requestConnection().get()
            let t1 = nowNs()
            w[j] = t1 &- t0
            pool.pool.releaseConnection(connection)
            let t2 = nowNs()
            hold &+= t2 &- t1
            t0 = t2
        }
        holds.base[i] = hold
    }
    return ContendedRun(wallNs: wall, waits: waits, holds: holds)
}

// MARK: W5 waiters

/// W5 fixture: a QueuePool(1, 0) whose one connection is held, with `depth` async waiters parked
/// in its queue for as long as the fixture lives.
public final class WaiterFixture: @unchecked Sendable {
    public let pool: QueuePool<NoOpConnection>
    public let depth: Int
    private var held: ConnectionFairy<NoOpConnection>?
    private var background: [Task<Void, Never>] = []

    public init(depth: Int, timeout: Duration? = .seconds(30)) async {
        pool = makeQueuePool(poolSize: 1, maxOverflow: 0, timeout: timeout)
        self.depth = depth
        held = try! await pool.connect()
        let pool = self.pool
        for _ in 0..<depth {
            background.append(Task { _ = try? await pool.connect() })
        }
        await waitUntilQueued(depth)
    }

    public func waitUntilQueued(_ count: Int) async {
        while pool.waiting < count { await Task.yield() }
    }

    /// `count` more waiters join the back of the queue, are all queued, then all cancelled.
    /// Every operation runs with at least `depth` waiters ahead of it.
    public func enqueueAndCancel(_ count: Int) async {
        let pool = self.pool
        var tasks: [Task<Void, Never>] = []
        tasks.reserveCapacity(count)
        for _ in 0..<count { tasks.append(Task { _ = try? await pool.connect() }) }
        await waitUntilQueued(depth + count)
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
    }

    public func tearDown() async {
        for task in background { task.cancel() }
        for task in background { await task.value }
        held?.close()
        held = nil
    }
}
