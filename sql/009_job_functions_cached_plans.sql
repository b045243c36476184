-- The claim and the finish (002) as PL/pgSQL, so each session plans them once.
--
-- A LANGUAGE sql function with SET clauses cannot be inlined, and PostgreSQL 15 parses, analyzes
-- and plans its body again on every call. The payment worker calls both once per batch: in a
-- profile of the booking benchmark (`make bench`), that parse and plan was about a tenth of the
-- worker's backend's CPU. PL/pgSQL keeps each statement's plan for the session. The bodies, the
-- SET clauses that pin the plans to the index (see 002) and the results are the same.

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

CREATE OR REPLACE FUNCTION stagedoor_finish_jobs(ids bigint[], statuses integer[], bodies text[])
RETURNS TABLE (id bigint, status integer, body text)
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
    RETURNING j.id, j.response_status, j.response_body::text;
END
$$;
