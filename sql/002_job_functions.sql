-- The runner's claim and finish as functions whose plans cannot drift to a scan of the whole table.
--
-- Measured in `make bench`: in a flash crowd the jobs table grows from a few rows to tens of
-- thousands in seconds, faster than autovacuum re-analyzes it (it looks once a minute), so the
-- plans chosen while it was small stayed in use:
-- - the claim took a bitmap scan plus a sort. A bitmap scan never marks the index entries of
--   finished jobs dead (a plain index scan does, as it passes them), so between vacuums every
--   claim re-read thousands of dead entries and hundreds of heap pages to find a few queued jobs;
-- - the finish joined its outcomes to the table with a sequential scan.
-- Both only ever touch a few rows found by index. The SET clauses hold only while a function runs.

-- Locks up to `batch` runnable jobs, oldest first, skipping those other runners hold.
CREATE FUNCTION stagedoor_claim_jobs(batch integer)
RETURNS TABLE (id bigint, kind text, payload text, attempts integer, max_attempts integer, user_id bigint, waited float8)
LANGUAGE sql
SET enable_bitmapscan = off
SET enable_seqscan = off
AS $$
    SELECT j.id, j.kind, j.payload::text, j.attempts, j.max_attempts, j.user_id,
           extract(epoch FROM now() - j.created_at)::float8
    FROM jobs j
    WHERE j.state = 'queued' AND j.run_at <= now()
    ORDER BY j.id
    LIMIT batch
    FOR UPDATE SKIP LOCKED
$$;

-- Stores each job's outcome (HTTP status and JSON body); returns what it stored, for job_done.
CREATE FUNCTION stagedoor_finish_jobs(ids bigint[], statuses integer[], bodies text[])
RETURNS TABLE (id bigint, status integer, body text)
LANGUAGE sql
SET enable_seqscan = off
SET enable_hashjoin = off
AS $$
    UPDATE jobs j
    SET state = 'succeeded', attempts = j.attempts + 1, response_status = o.status,
        response_body = o.body::jsonb, started_at = now(), finished_at = clock_timestamp(), last_error = NULL
    FROM unnest(ids, statuses, bodies) AS o(id, status, body)
    WHERE j.id = o.id
    RETURNING j.id, j.response_status, j.response_body::text
$$;
