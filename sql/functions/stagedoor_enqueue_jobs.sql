-- Enqueues a batch of jobs and commits, in one CALL: stagedoor_insert_jobs with every job to be
-- inserted and queued. A procedure that commits before it answers, so a producer is never told the
-- id of a job whose row was not committed, and a batch costs one round trip instead of BEGIN,
-- insert and COMMIT. Answers per job, in order: created, and the id (see stagedoor_insert_jobs).
CREATE OR REPLACE PROCEDURE stagedoor_enqueue_jobs(
    p_kinds text[], p_payloads text[], p_user_ids bigint[], p_keys text[], p_hashes bytea[], p_max_attempts integer[],
    p_reply_channels text[], p_notify boolean, OUT o_created boolean[], OUT o_ids bigint[])
LANGUAGE plpgsql
AS $$
DECLARE
    jobs integer := cardinality(p_kinds);
BEGIN
    SELECT array_agg(e.created ORDER BY e.n), array_agg(e.id ORDER BY e.n)
    INTO o_created, o_ids
    FROM stagedoor_insert_jobs(p_kinds, p_payloads, p_user_ids, p_keys, p_hashes, p_max_attempts, p_reply_channels,
                               array_fill(true, ARRAY[jobs]), array_fill(0, ARRAY[jobs]), array_fill(''::text, ARRAY[jobs]),
                               p_notify) e;
    COMMIT;
END
$$;

-- Its signature from before reply channels (migration 003), kept as an overload for processes of
-- the earlier release during a rolling upgrade: it delegates here with no reply channel, so its jobs
-- are announced on the shared job_done, which those gateways listen on.
CREATE OR REPLACE PROCEDURE stagedoor_enqueue_jobs(
    p_kinds text[], p_payloads text[], p_user_ids bigint[], p_keys text[], p_hashes bytea[], p_max_attempts integer[],
    p_notify boolean, OUT o_created boolean[], OUT o_ids bigint[])
LANGUAGE plpgsql
AS $$
BEGIN
    CALL stagedoor_enqueue_jobs(p_kinds, p_payloads, p_user_ids, p_keys, p_hashes, p_max_attempts,
                                array_fill(''::text, ARRAY[cardinality(p_kinds)]), p_notify, o_created, o_ids);
END
$$;
