-- The enqueue procedures' signatures from before migration 003 (no reply channels), kept as
-- overloads for processes of the earlier release during a rolling upgrade: they delegate to the
-- current procedures (sql/functions/) with no reply channel, so their jobs are announced on the
-- shared job_done, which those gateways listen on. Defined here, once, because they never change:
-- the function files stay one definition each.

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

CREATE OR REPLACE PROCEDURE stagedoor_enqueue_booking_jobs(
    p_kinds text[], p_payloads text[], p_user_ids bigint[], p_keys text[], p_hashes bytea[], p_max_attempts integer[],
    p_notify boolean, p_gates bytea[], p_seat_schedules bigint[], p_seat_nos integer[], p_max_holds integer[],
    p_refusal_statuses integer[], p_refusal_bodies text[], p_room_schedules bigint[], p_room_reservations bigint[],
    OUT o_created boolean[], OUT o_ids bigint[], OUT o_gates text[], OUT o_statuses integer[], OUT o_bodies text[])
LANGUAGE plpgsql
AS $$
BEGIN
    CALL stagedoor_enqueue_booking_jobs(p_kinds, p_payloads, p_user_ids, p_keys, p_hashes, p_max_attempts,
                                        array_fill(''::text, ARRAY[cardinality(p_kinds)]), p_notify, p_gates,
                                        p_seat_schedules, p_seat_nos, p_max_holds, p_refusal_statuses, p_refusal_bodies,
                                        p_room_schedules, p_room_reservations, o_created, o_ids, o_gates, o_statuses, o_bodies);
END
$$;
