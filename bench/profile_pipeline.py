"""Where a request's CPU goes, in-process, stage by stage: decode, policy x vendors,
wire encoding, ledger rows, and the writer's SQL (outbox insert, ledger upserts).

Cold is the first pass over the traffic (every value new to the policy's caches and
the ledger); warm is steady traffic from known users, the case the caches are built
for. CPU time (process_time), best of ``--repeat``; run under pyinstrument or py-spy
for the detail.

    python bench/profile_pipeline.py [--bodies 200] [--repeat 5]
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_config import bench_config
from traffic import batch_body

from seawall.core.types import Context, Disclosure, Event
from seawall.forward.wire import encode
from seawall.gateway.asgi import tune_interpreter
from seawall.gateway.runtime import Runtime
from seawall.ingest import mixpanel
from seawall.ledger.store import write_batch
from seawall.outbox.store import enqueue
from seawall.policy.engine import apply


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bodies", type=int, default=200, help="requests of 50 events")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    cfg = bench_config(tmp, "http://127.0.0.1:9")
    rt = Runtime.build(cfg)
    tune_interpreter()  # as in a server worker
    rng = random.Random(7)
    bodies = [batch_body(rng, "demo-project-token") for _ in range(args.bodies)]
    client = Context(ip="203.0.113.9", user_agent="Mozilla/5.0")
    policies = list(rt.pipeline.policies.values())
    vendors = cfg.vendors

    def decode(body: bytes) -> list[Event]:
        return mixpanel.decode(
            "track",
            body,
            content_type="application/x-www-form-urlencoded",
            query={},
            authorization=None,
            client=client,
            sources=rt.mixpanel_tokens,
            import_secrets={},
        )

    requests = [decode(b) for b in bodies]
    n = sum(map(len, requests))

    def per_event(fn: Callable[[], object], repeat: int) -> float:
        best = float("inf")
        for _ in range(repeat):
            gc.collect()
            t0 = time.process_time()
            fn()
            best = min(best, time.process_time() - t0)
        return best / n * 1e6

    def policy() -> list[list[Disclosure]]:
        return [[apply(e, p) for e in events for p in policies] for events in requests]

    recorder = rt.pipeline.recorder

    def ledger(ds: list[list[Disclosure]]) -> None:
        for d in ds:
            recorder.committed(recorder.prepare(d))

    def writer() -> None:
        works = [rt.pipeline.minimise(events) for events in requests]
        futures = [
            rt.db.writer.submit(
                lambda conn, w=w: (
                    enqueue(conn, w.rows, time.time()),
                    w.ledger is not None and write_batch(conn, w.ledger),
                )
            )
            for w in works
        ]
        for w, f in zip(works, futures, strict=True):
            f.result()
            if w.ledger is not None:
                recorder.committed(w.ledger)  # as Pipeline.accept does after the commit

    rows: list[tuple[str, float, float]] = []
    cold_policy = per_event(policy, 1)
    disclosures = policy()
    cold_ledger = per_event(lambda: ledger(disclosures), 1)
    t_decode = per_event(lambda: [decode(b) for b in bodies], args.repeat)
    rows.append(("decode (form, base64, JSON, events)", t_decode, t_decode))
    rows.append((f"policy, {len(policies)} vendors", cold_policy, per_event(policy, args.repeat)))
    t_encode = per_event(
        lambda: [encode(d.vendor, vendors[d.vendor], d) for ds in disclosures for d in ds],
        args.repeat,
    )
    rows.append(("wire encoding", t_encode, t_encode))
    rows.append(("ledger rows", cold_ledger, per_event(lambda: ledger(disclosures), args.repeat)))
    recorder.recent._seen.clear()
    cold_writer = per_event(writer, 1)  # new facts: every ledger row written
    warm_writer = per_event(writer, args.repeat) - per_event(
        lambda: [rt.pipeline.minimise(events) for events in requests], args.repeat
    )
    rows.append(("writer: outbox + ledger SQL (SQLite)", cold_writer, warm_writer))
    print(f"{n:,} events in {len(bodies)} requests; CPU us/event (cold = first pass)")
    print(f"{'stage':<40}{'cold':>10}{'warm':>10}")
    for name, cold, warm in rows:
        print(f"{name:<40}{cold:>10.1f}{warm:>10.1f}")
    total = sum(r[2] for r in rows)
    print(f"{'total, warm':<40}{'':>10}{total:>10.1f}  => {1e6 / total:,.0f} events/s per core")
    rt.close()


if __name__ == "__main__":
    main()
