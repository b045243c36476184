-- Inserts a batch of jobs in one statement: the job core's only way in. Callers that check
-- something of their own first (a queue gate, say) call it from their own procedure, in the same
-- statement as their checks, so an enqueue stays one round trip.
--
-- Per job, arrays in step (n is the job's place in them):
-- - kind, payload (JSON text), user id (-1: none), idempotency key ('': none), request digest
--   ('': none), max attempts, reply channel (the channel its outcome is announced on; '': the
--   shared job_done);
-- - insert: false when the caller declined the job: it is only looked up by its key;
-- - outcome status (0: none) and body: a job whose outcome is already known is stored finished
--   with it, and wakes no worker.
-- A job whose user already used its key for its kind is not inserted: its answer is that job's id
-- (an idempotent replay, found before anything else). Answers, one row per job in order: created,
-- the id (the new job's, the existing job's, or 0 when declined or when the key was taken by a
-- transaction this snapshot cannot see: try again), and the outcome stored with a new job (0, '').
-- With `notify`, one `pg_notify('jobs')` when any queued job was inserted.
CREATE OR REPLACE FUNCTION stagedoor_insert_jobs(
    p_kinds text[], p_payloads text[], p_user_ids bigint[], p_keys text[], p_hashes bytea[], p_max_attempts integer[],
    p_reply_channels text[], p_inserts boolean[], p_statuses integer[], p_bodies text[], p_notify boolean)
RETURNS TABLE (n integer, created boolean, id bigint, status integer, body text)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH given AS (
        SELECT r.n::integer AS n, r.kind, r.payload, NULLIF(r.user_id, -1) AS user_id, NULLIF(r.key, '') AS key,
               NULLIF(r.hash, ''::bytea) AS hash, r.max_attempts, NULLIF(r.reply_channel, '') AS reply_channel, r.ins, NULLIF(r.status, 0) AS status, r.body
        FROM unnest(p_kinds, p_payloads, p_user_ids, p_keys, p_hashes, p_max_attempts, p_reply_channels, p_inserts,
                    p_statuses, p_bodies)
             WITH ORDINALITY AS r(kind, payload, user_id, key, hash, max_attempts, reply_channel, ins, status, body, n)
    ), keyed AS (
        -- The job that already has this key, if this statement's snapshot sees one (a unique-index probe).
        SELECT g.*, CASE WHEN g.key IS NOT NULL THEN (
                   SELECT j.id FROM jobs j WHERE j.user_id = g.user_id AND j.kind = g.kind AND j.idempotency_key = g.key
               ) END AS existing,
               nextval('jobs_id_seq'::regclass) AS new_id
        FROM given g
    ), inserted AS (
        INSERT INTO jobs (id, kind, payload, user_id, idempotency_key, request_hash, max_attempts, reply_channel,
                          state, started_at, finished_at, response_status, response_body)
        OVERRIDING SYSTEM VALUE
        SELECT k.new_id, k.kind, k.payload::jsonb, k.user_id, k.key, k.hash, k.max_attempts, k.reply_channel,
               CASE WHEN k.status IS NULL THEN 'queued' ELSE 'succeeded' END,
               CASE WHEN k.status IS NOT NULL THEN now() END,
               CASE WHEN k.status IS NOT NULL THEN clock_timestamp() END,
               k.status,
               CASE WHEN k.status IS NOT NULL THEN k.body::jsonb END
        FROM keyed k
        WHERE k.existing IS NULL AND k.ins
        ORDER BY k.n
        ON CONFLICT (user_id, kind, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
        RETURNING jobs.id AS job_id, jobs.state AS job_state, jobs.response_status AS job_status,
                  jobs.response_body::text AS job_body
    ), woken AS (
        SELECT pg_notify('jobs', '') WHERE p_notify AND EXISTS (SELECT 1 FROM inserted i WHERE i.job_state = 'queued')
    )
    SELECT k.n, i.job_id IS NOT NULL, COALESCE(i.job_id, k.existing, 0), COALESCE(i.job_status, 0), COALESCE(i.job_body, '')
    FROM keyed k
    LEFT JOIN inserted i ON i.job_id = k.new_id
    WHERE (SELECT count(*) FROM woken) >= 0
    ORDER BY k.n;
END
$$;
