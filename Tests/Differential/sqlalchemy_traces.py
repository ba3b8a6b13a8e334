#!/usr/bin/env python3
"""Random single-threaded operation sequences run against SQLAlchemy's own QueuePool.

Prints JSON: one object per sequence with the pool's configuration and, for every operation,
the events fired (name and connection index), the driver calls each connection received, and
the pool's counters afterwards. Tests/DBPoolTests/DifferentialTests.swift replays the same
operations on our QueuePool and compares step by step.

    python3 sqlalchemy_traces.py --seed 1 --count 200 --length 30

The deliberate differences from SQLAlchemy (see the README's list of deviations) are applied
to the expected trace here, each in one place, so that everything else must agree exactly:

1. A fairy never calls the driver on a connection that its record has already closed: no
   `reset`, no rollback, no `close_detached` and no close for it (SQLAlchemy's explicit
   close still resets it, and closes it again if the fairy was detached).
2. Hard-invalidating a detached fairy terminates its connection (SQLAlchemy leaves it open).

Not generated, because the two pools differ on purpose or the case is outside the model:
dispose() while connections are out (SQLAlchemy then sets overflow to -size, so its counters
go negative; ours subtract what they close), dropping a detached fairy (SQLAlchemy's weak
reference is gone after detach, so it never closes that connection; ours does), and waits.
"""
import argparse
import gc
import json
import random
import sys
import warnings

from sqlalchemy import event
from sqlalchemy.pool import QueuePool

EVENTS = ["first_connect", "connect", "checkout", "checkin", "reset", "invalidate",
          "soft_invalidate", "close", "detach", "close_detached"]


class Connection:
    """A DB-API connection that records every call, like DBPoolTesting's MockConnection."""

    def __init__(self, index, calls):
        self.index = index
        self.calls = calls
        self.closed = False

    def rollback(self):
        self.calls.append([self.index, "rollback()"])

    def commit(self):
        self.calls.append([self.index, "commit()"])

    def close(self):
        self.calls.append([self.index, "close()"])
        self.closed = True


def listen(pool, events):
    def index_of(dbapi_connection):
        return None if dbapi_connection is None else dbapi_connection.index

    def make(name):
        if name in ("checkout",):
            return lambda c, rec, proxy: events.append([name, index_of(c)])
        if name in ("invalidate", "soft_invalidate", "reset"):
            return lambda c, rec, extra: events.append([name, index_of(c)])
        if name == "close_detached":
            return lambda c: events.append([name, index_of(c)])
        return lambda c, rec: events.append([name, index_of(c)])

    for name in EVENTS:
        event.listen(pool, name, make(name))


def run_sequence(seed, length):
    rnd = random.Random(seed)
    size = rnd.choice([1, 2, 3])
    overflow = rnd.choice([0, 1, 2])
    lifo = rnd.random() < 0.5
    events, calls, connections = [], [], []

    def creator():
        connection = Connection(len(connections), calls)
        connections.append(connection)
        return connection

    pool = QueuePool(creator, pool_size=size, max_overflow=overflow, timeout=0.01, use_lifo=lifo)
    listen(pool, events)
    fairies = []        # SQLAlchemy fairies by index; None once finished
    detached = set()
    steps = []
    for _ in range(length):
        live = [i for i, f in enumerate(fairies) if f is not None]
        attached = [i for i in live if i not in detached]
        choices = []
        if pool.checkedout() < size + overflow:
            choices += ["connect"] * 3
        for i in live:
            choices += [("close", i)] * 2 + [("invalidate", i), ("soft_invalidate", i)]
            if i in attached:
                choices += [("detach", i), ("drop", i)]
                if fairies[i]._connection_record.dbapi_connection is not None:
                    choices += [("record_invalidate", i)]
        if not attached:
            choices += ["dispose"]
        if not choices:
            break
        choice = rnd.choice(choices)
        op, index = (choice, None) if isinstance(choice, str) else choice
        del events[:]
        del calls[:]
        fairy = fairies[index] if index is not None else None
        own = fairy.dbapi_connection if fairy is not None else None
        closed_before = own is not None and own.closed
        if op == "connect":
            fairies.append(pool.connect())
            index = len(fairies) - 1
        elif op == "close":
            fairy.close()
            if fairy.dbapi_connection is None:
                fairies[index] = None
        elif op == "invalidate":
            fairy.invalidate()
            fairies[index] = None
        elif op == "soft_invalidate":
            fairy.invalidate(soft=True)
        elif op == "record_invalidate":
            fairy._connection_record.invalidate()
        elif op == "detach":
            fairy.detach()
            detached.add(index)
        elif op == "drop":
            fairies[index] = None
            del fairy
            gc.collect()
        elif op == "dispose":
            pool.dispose()
        step_events, step_calls = list(events), list(calls)
        # Deviation 1: nothing more on a connection the record had closed.
        if closed_before and op in ("close", "invalidate"):
            step_events = [e for e in step_events
                           if not (e[0] in ("reset", "close_detached") and e[1] == own.index)]
            step_calls = [c for c in step_calls if c[0] != own.index]
        # Deviation 2: hard-invalidating a detached fairy terminates its connection.
        if op == "invalidate" and index in detached and own is not None and not closed_before:
            step_calls.append([own.index, "close()"])
            own.closed = True
        steps.append({
            "op": op, "fairy": index, "events": step_events, "calls": step_calls,
            "checkedIn": pool.checkedin(), "checkedOut": pool.checkedout(), "overflow": pool.overflow(),
        })
    return {"seed": seed, "size": size, "overflow": overflow, "lifo": lifo, "steps": steps}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--length", type=int, default=30)
    args = parser.parse_args()
    # SQLAlchemy warns when a dropped fairy is cleaned up; that is the case being tested.
    warnings.simplefilter("ignore")
    import sqlalchemy
    sequences = [run_sequence(args.seed * 100_003 + n, args.length) for n in range(args.count)]
    json.dump({"sqlalchemy": sqlalchemy.__version__, "sequences": sequences}, sys.stdout)


if __name__ == "__main__":
    main()
