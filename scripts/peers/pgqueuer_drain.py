"""PgQueuer's drain of a backlog of no-op jobs, for `make bench-peers`.

    pgqueuer_drain.py DSN JOBS BATCH WORKERS  → prints jobs/s

Enqueues JOBS jobs (entrypoint "noop", no payload) before the clock starts, then WORKERS PgQueuer
instances — each on its own connection, as separate consumers would be — drain them with
dequeue batches of BATCH (QueueExecutionMode.drain: each stops once the queue is empty).
"""
import asyncio
import sys
import time

import asyncpg
from pgqueuer import PgQueuer
from pgqueuer.db import AsyncpgDriver
from pgqueuer.queries import Queries
from pgqueuer.types import QueueExecutionMode


async def main(dsn: str, jobs: int, batch: int, workers: int) -> None:
    connection = await asyncpg.connect(dsn)
    queries = Queries(AsyncpgDriver(connection))
    for start in range(0, jobs, 10_000):
        count = min(10_000, jobs - start)
        await queries.enqueue(["noop"] * count, [None] * count, [0] * count)
    await connection.execute("VACUUM ANALYZE")
    await connection.execute("CHECKPOINT")

    async def consumer() -> None:
        own = await asyncpg.connect(dsn)
        queuer = PgQueuer(AsyncpgDriver(own))

        @queuer.entrypoint("noop")
        async def noop(job) -> None:
            pass

        await queuer.run(batch_size=batch, mode=QueueExecutionMode.drain)
        await own.close()

    started = time.monotonic()
    await asyncio.gather(*(consumer() for _ in range(workers)))
    seconds = time.monotonic() - started
    left = await connection.fetchval("SELECT count(*) FROM pgqueuer")
    if left:
        sys.exit(f"PgQueuer left {left} jobs in its queue")
    print(int(jobs / seconds))
    await connection.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
