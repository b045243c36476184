-- The dead jobs, indexed: the job metrics count them every 5 s in each worker process.
--
-- Without an index `count(*) … WHERE state = 'dead'` read the whole jobs table: 19 ms at 60,000
-- rows, up to 100 ms late in a booking benchmark (PostgreSQL's slow-statement log), every 5 s from
-- two processes, on the cores that serve the requests. Dead jobs are rare, so this index is tiny,
-- and the updates that finish jobs were already not HOT (`state` is in 001's partial indexes).
CREATE INDEX jobs_dead_idx ON jobs (id) WHERE state = 'dead';
