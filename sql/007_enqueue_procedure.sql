-- The enqueue as a procedure that commits before it answers: one round trip instead of three.
--
-- A client is told a job id only once the job's row is committed. PostgresNIO ends a statement's
-- rows at CommandComplete, before an implicit transaction commits (at Sync), so the enqueue ran
-- inside BEGIN … COMMIT: three round trips, and the enqueue is the job engine's latency-bound step
-- (`make bench`: enqueue + run fell from par with pgbench to 0.8× when the BEGIN and COMMIT came in).
-- A procedure's COMMIT runs inside the CALL, and the row CALL returns is sent after it, so the
-- answer itself is the confirmation. A commit that fails (a deferred constraint, a server that
-- goes away) fails the CALL.
--
-- One row: per job, in input order, whether it was inserted, its id (or the id of the job that
-- already had its idempotency key; 0 for none) and its queue gate's status ('' for no gate).
CREATE PROCEDURE stagedoor_enqueue_jobs(
    p_kinds text[], p_payloads text[], p_user_ids bigint[], p_has_keys bool[], p_keys text[],
    p_hashes bytea[], p_max_attempts integer[], p_notify bool, p_gates bytea[],
    OUT o_created bool[], OUT o_ids bigint[], OUT o_gates text[])
LANGUAGE plpgsql
AS $$
BEGIN
    WITH req AS (
        SELECT r.n, r.kind, r.payload, NULLIF(r.user_id, -1) AS user_id,
               CASE WHEN r.has_key THEN r.key END AS key, NULLIF(r.hash, ''::bytea) AS hash, r.max_attempts,
               CASE WHEN r.gate <> ''::bytea THEN COALESCE((
                   SELECT CASE WHEN q.user_id = r.user_id
                               THEN stagedoor_token_status(q.status, q.expires_at, q.last_seen_at, w.idle_ttl_seconds)
                               ELSE 'invalid' END
                   FROM queue_tokens q CROSS JOIN waiting_room w
                   WHERE q.token_hash = r.gate AND w.id = 1 LIMIT 1), 'invalid') END AS gate,
               nextval('jobs_id_seq'::regclass) AS id
        FROM unnest(p_kinds, p_payloads, p_user_ids, p_has_keys, p_keys, p_hashes, p_max_attempts, p_gates)
             WITH ORDINALITY AS r(kind, payload, user_id, has_key, key, hash, max_attempts, gate, n)
    ), inserted AS (
        INSERT INTO jobs (id, kind, payload, user_id, idempotency_key, request_hash, max_attempts)
        OVERRIDING SYSTEM VALUE
        SELECT req.id, req.kind, req.payload::jsonb, req.user_id, req.key, req.hash, req.max_attempts FROM req
        WHERE req.gate IS NULL OR req.gate = 'active'
        ORDER BY req.n
        ON CONFLICT (user_id, kind, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
        RETURNING jobs.id
    ), woken AS (
        SELECT pg_notify('jobs', '') WHERE p_notify AND EXISTS (SELECT 1 FROM inserted)
    ), answers AS (
        SELECT r.n, i.id IS NOT NULL AS created,
               COALESCE(i.id, CASE WHEN r.key IS NOT NULL AND (r.gate IS NULL OR r.gate = 'active') THEN (
                   SELECT j.id FROM jobs j
                   WHERE j.user_id = r.user_id AND j.kind = r.kind AND j.idempotency_key = r.key) END, 0) AS id,
               COALESCE(r.gate, '') AS gate
        FROM req r
        LEFT JOIN inserted i ON i.id = r.id
        WHERE (SELECT count(*) FROM woken) >= 0
    )
    SELECT array_agg(a.created ORDER BY a.n), array_agg(a.id ORDER BY a.n), array_agg(a.gate ORDER BY a.n)
    INTO o_created, o_ids, o_gates
    FROM answers a;
    COMMIT;
END
$$;
