"""A gateway-like process for the crash test: appends audit records until it is killed.

    python spool_worker.py DATABASE_URL SPOOL_DIR

Prints `acked <request id>` for every append that returned (fsynced) and never exits by
itself: the test kills it with SIGKILL mid-stream.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from persistence_helpers import make_record

from gateway.persistence.audit import SpooledAuditLog
from store import make_engine


async def main(url: str, spool_dir: Path) -> None:
    log = await SpooledAuditLog.open(
        make_engine(url), spool_dir, instance_id="worker", batch_records=16, lease_ttl_s=2.0
    )
    wave = 0
    while True:
        ids = [f"crash-{wave}-{i}" for i in range(20)]
        await asyncio.gather(*(log.append(make_record(i)) for i in ids))
        sys.stdout.write("".join(f"acked {i}\n" for i in ids))
        sys.stdout.flush()
        wave += 1
        await asyncio.sleep(0.005)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2])))
