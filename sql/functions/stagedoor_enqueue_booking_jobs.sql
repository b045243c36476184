-- The gateway's enqueue: the job core's stagedoor_insert_jobs behind two booking checks, in one
-- statement, then COMMIT — one round trip per batch, and an id is never handed out for a row that
-- was not committed.
--
-- Per job, beside the job core's arrays (see stagedoor_insert_jobs):
-- - the queue gate: the SHA-256 of the queue token the job needs ('': none). The job is inserted
--   only if that token is the job's user's and active, as clients see it (stagedoor_token_status);
--   this spares the gateway a lookup of its own before each reserve and pay. A job that already has
--   its idempotency key is answered with that job whatever its gate says now: docs/api.md answers
--   replays before the queue token;
-- - the room check, after the gate: the schedule the job is about (p_room_schedules; 0: none), or
--   the reservation it is about (p_room_reservations; 0: none) when it is the job's user's. When
--   that schedule's concert is gated by another room than the token's, the job is not inserted and
--   its gate answers 'room:<the right room id>'. A schedule or reservation that does not exist (or
--   is another user's) is left to the worker, which answers 404: docs/api.md checks existence
--   before the room;
-- - the seat check: a schedule (0: none), seat number and hold limit. When this statement's
--   snapshot shows that the worker would refuse the job with seat_unavailable — the schedule
--   exists, the seat is in its range, the user holds fewer live seats there than the limit (else
--   the worker refuses with the hold limit first), and the seat is sold or held by a live hold —
--   the job is stored finished with the given refusal (status, body), and no worker is woken. The
--   check can only refuse, never grant: the worker decides under its locks. In a flash crowd for
--   one seat this answers nearly every request at once.
-- Answers per job, in order: created; the id (0: gate refused, or a key race: try again); the gate
-- ('' without one or for a replay, else the token's status, 'invalid' when it is unknown or another
-- user's, or 'room:<id>'); the outcome stored with a refused seat (0, '' otherwise).
--
-- The schedule and seat are joined only for the jobs that carry a seat check (a small schedules
-- table read once per batch, seats probed by index), and the token is probed only for a job with a
-- gate: a correlated lookup per job rescanned the schedules for every reservation.
CREATE OR REPLACE PROCEDURE stagedoor_enqueue_booking_jobs(
    p_kinds text[], p_payloads text[], p_user_ids bigint[], p_keys text[], p_hashes bytea[], p_max_attempts integer[],
    p_reply_channels text[], p_notify boolean, p_gates bytea[], p_seat_schedules bigint[], p_seat_nos integer[], p_max_holds integer[],
    p_refusal_statuses integer[], p_refusal_bodies text[], p_room_schedules bigint[], p_room_reservations bigint[],
    OUT o_created boolean[], OUT o_ids bigint[], OUT o_gates text[], OUT o_statuses integer[], OUT o_bodies text[])
LANGUAGE plpgsql
AS $$
BEGIN
    WITH given AS (
        SELECT r.n::integer AS n, r.user_id, r.gate, r.seat_schedule, r.seat_no, r.max_holds, r.room_schedule, r.room_reservation
        FROM unnest(p_user_ids, p_gates, p_seat_schedules, p_seat_nos, p_max_holds, p_room_schedules, p_room_reservations)
             WITH ORDINALITY AS r(user_id, gate, seat_schedule, seat_no, max_holds, room_schedule, room_reservation, n)
    ), tokens AS (
        SELECT g.n, q.user_id = g.user_id AS owned, q.room_id,
               stagedoor_token_status(q.status, q.expires_at, q.last_seen_at, room.idle_ttl_seconds, room.state) AS status
        FROM given g
        JOIN queue_tokens q ON q.token_hash = g.gate
        JOIN rooms_in_force room ON room.id = q.room_id
        WHERE g.gate <> ''::bytea
    ), targets AS (
        -- The room gating the concert each gated job is about, when that schedule or reservation exists.
        SELECT g.n, c.room_id
        FROM given g
        JOIN reservations rv ON rv.id = g.room_reservation AND rv.user_id = g.user_id
        JOIN schedules sc ON sc.id = rv.schedule_id
        JOIN concerts c ON c.id = sc.concert_id
        WHERE g.gate <> ''::bytea AND g.room_reservation > 0
        UNION ALL
        SELECT g.n, c.room_id
        FROM given g
        JOIN schedules sc ON sc.id = g.room_schedule
        JOIN concerts c ON c.id = sc.concert_id
        WHERE g.gate <> ''::bytea AND g.room_schedule > 0
    ), gated AS (
        SELECT g.n, g.user_id, g.seat_schedule, g.seat_no, g.max_holds,
               CASE WHEN g.gate = ''::bytea THEN NULL
                    WHEN t.n IS NULL OR NOT t.owned THEN 'invalid'
                    WHEN t.status <> 'active' THEN t.status
                    WHEN x.room_id IS NOT NULL AND x.room_id <> t.room_id THEN 'room:' || x.room_id
                    ELSE 'active' END AS gate
        FROM given g
        LEFT JOIN tokens t ON t.n = g.n
        LEFT JOIN targets x ON x.n = g.n
    ), seats_seen AS (
        SELECT g.n, sc.total_seats, st.status, st.hold_expires_at
        FROM gated g
        JOIN schedules sc ON sc.id = g.seat_schedule
        JOIN seats st ON st.schedule_id = g.seat_schedule AND st.seat_no = g.seat_no
        WHERE g.seat_schedule > 0 AND (g.gate IS NULL OR g.gate = 'active')
    ), checked AS (
        -- The checks of stagedoor_reserve_seats up to seat_unavailable, in its order; no such
        -- schedule or seat is not refused here.
        SELECT g.n, g.gate, (g.gate IS NULL OR g.gate = 'active') AS admitted,
               COALESCE(s.n IS NOT NULL AND g.seat_no BETWEEN 1 AND s.total_seats
                   AND (s.status = 'sold' OR (s.status = 'held' AND s.hold_expires_at >= now()))
                   AND (SELECT count(*) FROM reservations rv
                        WHERE rv.user_id = g.user_id AND rv.schedule_id = g.seat_schedule
                          AND rv.status = 'held' AND rv.hold_expires_at > now()) < g.max_holds, false) AS refused
        FROM gated g
        LEFT JOIN seats_seen s ON s.n = g.n
    ), decided AS (
        SELECT array_agg(c.admitted ORDER BY c.n) AS inserts,
               array_agg(CASE WHEN c.refused THEN p_refusal_statuses[c.n] ELSE 0 END ORDER BY c.n) AS statuses,
               array_agg(CASE WHEN c.refused THEN p_refusal_bodies[c.n] ELSE '' END ORDER BY c.n) AS bodies
        FROM checked c
    )
    SELECT array_agg(e.created ORDER BY e.n), array_agg(e.id ORDER BY e.n),
           array_agg(CASE WHEN e.id = 0 THEN COALESCE(c.gate, '') ELSE '' END ORDER BY e.n),
           array_agg(e.status ORDER BY e.n), array_agg(e.body ORDER BY e.n)
    INTO o_created, o_ids, o_gates, o_statuses, o_bodies
    FROM decided d
    CROSS JOIN LATERAL stagedoor_insert_jobs(p_kinds, p_payloads, p_user_ids, p_keys, p_hashes, p_max_attempts,
                                             p_reply_channels, d.inserts, d.statuses, d.bodies, p_notify) e
    JOIN checked c ON c.n = e.n;
    COMMIT;
END
$$;

-- Its signature from before reply channels (migration 003), kept as an overload for processes of
-- the earlier release during a rolling upgrade: it delegates here with no reply channel, so its jobs
-- are announced on the shared job_done, which those gateways listen on.
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
