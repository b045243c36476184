-- Locks up to `batch` runnable jobs, oldest first, skipping those other runners hold.
--
-- PL/pgSQL so each session plans it once (a LANGUAGE sql function with SET clauses is parsed and
-- planned again on every call: a tenth of a worker's backend CPU in `make bench`). The SET
-- clauses pin the plan to a plain scan of jobs_claim_idx: in a flash crowd the table grows from a
-- few rows to tens of thousands faster than autovacuum re-analyzes it, and a bitmap scan chosen
-- while it was small never marks the index entries of finished jobs dead, so every claim re-read
-- thousands of them. They hold only while the function runs.
CREATE OR REPLACE FUNCTION stagedoor_claim_jobs(batch integer)
RETURNS TABLE (id bigint, kind text, payload text, attempts integer, max_attempts integer, user_id bigint, waited float8)
LANGUAGE plpgsql
SET enable_bitmapscan = off
SET enable_seqscan = off
AS $$
BEGIN
    RETURN QUERY
    SELECT j.id, j.kind, j.payload::text, j.attempts, j.max_attempts, j.user_id,
           extract(epoch FROM now() - j.created_at)::float8
    FROM jobs j
    WHERE j.state = 'queued' AND j.run_at <= now()
    ORDER BY j.id
    LIMIT batch
    FOR UPDATE SKIP LOCKED;
END
$$;
