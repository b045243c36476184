-- Stores each job's outcome (HTTP status and JSON body); returns what it stored and the channel
-- to announce it on (the job's reply channel, else the shared job_done).
-- Plans pinned to the primary key for the reason given in stagedoor_claim_jobs.sql (without them, a
-- plan made while the table was small joined the outcomes to it with a sequential scan).
CREATE OR REPLACE FUNCTION stagedoor_finish_jobs(ids bigint[], statuses integer[], bodies text[])
RETURNS TABLE (id bigint, status integer, body text, channel text)
LANGUAGE plpgsql
SET enable_seqscan = off
SET enable_hashjoin = off
AS $$
BEGIN
    RETURN QUERY
    UPDATE jobs j
    SET state = 'succeeded', attempts = j.attempts + 1, response_status = o.status,
        response_body = o.body::jsonb, started_at = now(), finished_at = clock_timestamp(), last_error = NULL
    FROM unnest(ids, statuses, bodies) AS o(id, status, body)
    WHERE j.id = o.id
    RETURNING j.id, j.response_status, j.response_body::text, COALESCE(j.reply_channel, 'job_done');
END
$$;
