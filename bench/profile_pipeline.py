"""Where a request's CPU goes, in-process: decode, policy x vendors, encode, ledger.

Run under pyinstrument or py-spy; prints per-event microseconds per stage."""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_config import bench_config
from traffic import batch_body

from seawall.core.types import Context
from seawall.gateway.runtime import Runtime
from seawall.ingest import mixpanel


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    cfg = bench_config(tmp, "http://127.0.0.1:9")
    rt = Runtime.build(cfg)
    rng = random.Random(7)
    bodies = [batch_body(rng, "demo-project-token") for _ in range(200)]
    client = Context(ip="203.0.113.9", user_agent="Mozilla/5.0")
    n = 0
    t_decode = t_min = 0.0
    for body in bodies:
        t0 = time.process_time()
        events = mixpanel.decode(
            "track",
            body,
            content_type="application/x-www-form-urlencoded",
            query={},
            authorization=None,
            client=client,
            sources=rt.mixpanel_tokens,
            import_secrets={},
        )
        t1 = time.process_time()
        work = rt.pipeline.minimise(events)
        assert work.ledger is not None
        rt.pipeline.recorder.committed(work.ledger)  # as after the commit
        t2 = time.process_time()
        t_decode += t1 - t0
        t_min += t2 - t1
        n += len(events)
    print(
        f"{n} events: decode {t_decode / n * 1e6:.1f} us/event, "
        f"policy+encode+ledger for {len(cfg.vendors)} vendors {t_min / n * 1e6:.1f} us/event "
        f"=> {n / (t_decode + t_min):,.0f} events/s per core"
    )
    rt.close()


if __name__ == "__main__":
    main()
