-- The schema a fresh database has once migrated: what sql/migrations and sql/functions add up to.
-- Written by `make schema`; do not edit (a test fails when it is stale).
--
-- PostgreSQL database dump
--

--
-- Name: stagedoor_admission_tick(double precision, double precision, integer, double precision, double precision); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.stagedoor_admission_tick(p_tick_seconds double precision, p_admit_per_second double precision, p_max_active integer, p_active_ttl_seconds double precision, p_idle_ttl_seconds double precision) RETURNS TABLE(room_id bigint, state text, admitted integer, expired_active integer, expired_idle integer, active integer, waiting bigint, admitted_through bigint, admit_per_second double precision)
    LANGUAGE plpgsql
    SET jit TO 'off'
    AS $$
#variable_conflict use_column
DECLARE
    v_expired_rooms bigint[];
    v_expired_active integer[];
    v_expired_idle integer[];
    v_shortest_idle double precision;
    -- Each room's plan, in id order: state, rate, active tokens, credit, allowance, active TTL.
    v_rooms bigint[];
    v_states text[];
    v_rates double precision[];
    v_actives integer[];
    v_credits double precision[];
    v_allowances integer[];
    v_ttls double precision[];
    -- The tokens this tick admits, and each one's active TTL.
    v_ids bigint[];
    v_id_ttls double precision[];
BEGIN
    UPDATE room_defaults d
    SET admit_per_second = p_admit_per_second, max_active = p_max_active,
        active_ttl_seconds = p_active_ttl_seconds, idle_ttl_seconds = p_idle_ttl_seconds
    WHERE d.id = 1 AND (d.admit_per_second, d.max_active, d.active_ttl_seconds, d.idle_ttl_seconds)
          IS DISTINCT FROM (p_admit_per_second, p_max_active, p_active_ttl_seconds, p_idle_ttl_seconds);

    SELECT min(r.idle_ttl_seconds) INTO v_shortest_idle FROM rooms_in_force r;
    WITH expired_active AS (
        UPDATE queue_tokens q SET status = 'expired', ended_at = now()
        WHERE q.status = 'active' AND q.expires_at <= now()
        RETURNING q.room_id, true AS was_active
    ), expired_idle AS (
        UPDATE queue_tokens q SET status = 'expired', ended_at = now()
        FROM rooms_in_force r
        WHERE q.status = 'waiting'
          AND q.last_seen_at < now() - make_interval(secs => v_shortest_idle)
          AND r.id = q.room_id AND r.state <> 'scheduled'
          AND q.last_seen_at < now() - make_interval(secs => r.idle_ttl_seconds)
        RETURNING q.room_id, false AS was_active
    ), counted AS (
        SELECT e.room_id, count(*) FILTER (WHERE e.was_active)::integer AS a, count(*) FILTER (WHERE NOT e.was_active)::integer AS i
        FROM (SELECT * FROM expired_active UNION ALL SELECT * FROM expired_idle) e
        GROUP BY e.room_id
    )
    SELECT array_agg(c.room_id), array_agg(c.a), array_agg(c.i)
    INTO v_expired_rooms, v_expired_active, v_expired_idle
    FROM counted c;

    WITH room AS (
        SELECT r.id, r.state, r.admit_per_second AS rate, r.max_active, r.active_ttl_seconds, a.active,
               -- The time this tick admits for: since the room's last tick, at most two ticks (or 2 s).
               r.carry + r.admit_per_second * CASE WHEN r.last_tick_at IS NULL THEN p_tick_seconds
                   ELSE LEAST(GREATEST(extract(epoch FROM now() - r.last_tick_at)::double precision, 0),
                              GREATEST(2 * p_tick_seconds, 2)) END AS credit
        FROM rooms_in_force r
        CROSS JOIN LATERAL (
            SELECT count(*)::integer AS active FROM queue_tokens q WHERE q.room_id = r.id AND q.status = 'active'
        ) a
    )
    SELECT array_agg(room.id ORDER BY room.id), array_agg(room.state ORDER BY room.id), array_agg(room.rate ORDER BY room.id),
           array_agg(room.active ORDER BY room.id), array_agg(room.credit ORDER BY room.id),
           array_agg(CASE WHEN room.state = 'open'
                          THEN LEAST(floor(room.credit), ceil(room.rate * p_tick_seconds), GREATEST(room.max_active - room.active, 0))::integer
                          ELSE 0 END ORDER BY room.id),
           array_agg(room.active_ttl_seconds ORDER BY room.id)
    INTO v_rooms, v_states, v_rates, v_actives, v_credits, v_allowances, v_ttls
    FROM room;

    -- The tokens to admit, each open room's lowest places by its index, chosen before the update so
    -- that the update finds them by primary key whatever the planner believes about waiting tokens:
    -- right after a crowd arrives, the statistics still show few, and an update joined to this choice
    -- was planned as every waiting token times every room (190 ms a tick at 10,000 waiting, growing
    -- with their square; found by `stagedoor-load streams`).
    SELECT array_agg(t.id), array_agg(p.ttl)
    INTO v_ids, v_id_ttls
    FROM unnest(v_rooms, v_allowances, v_ttls) AS p(id, allowance, ttl)
    CROSS JOIN LATERAL (
        SELECT q.id FROM queue_tokens q
        WHERE q.room_id = p.id AND q.status = 'waiting'
        ORDER BY q.place LIMIT p.allowance
    ) t
    WHERE p.allowance > 0;

    RETURN QUERY
    WITH expired AS (
        SELECT * FROM unnest(v_expired_rooms, v_expired_active, v_expired_idle) AS e(room_id, a, i)
    ), plan AS (
        SELECT * FROM unnest(v_rooms, v_states, v_rates, v_actives, v_credits) AS p(id, state, rate, active, credit)
    ), admitted AS (
        UPDATE queue_tokens q
        SET status = 'active', activated_at = now(), expires_at = now() + make_interval(secs => n.ttl)
        FROM unnest(v_ids, v_id_ttls) AS n(id, ttl)
        -- Still waiting (a token may have ended since it was chosen); written so that it cannot match
        -- the waiting tokens' index, which would again make them the outer side of the join.
        WHERE q.id = n.id AND (q.status || '') = 'waiting'
        RETURNING q.room_id, q.place
    ), per_room AS (
        SELECT a.room_id, count(*)::integer AS n, max(a.place) AS top FROM admitted a GROUP BY a.room_id
    ), locked AS (
        -- Room rows are locked in id order, as an opening locks them, and FOR NO KEY UPDATE: the token
        -- issue's foreign-key checks hold KEY SHARE locks on rooms in any order, which that does not
        -- wait for (FOR UPDATE did: a deadlock with four issuing sessions).
        SELECT r.id FROM rooms r ORDER BY r.id FOR NO KEY UPDATE
    ), marked AS (
        UPDATE rooms r
        SET admitted_through = GREATEST(r.admitted_through, COALESCE(pr.top, 0),
                                        -- Passes places whose tokens left the line before their turn.
                                        COALESCE((SELECT min(q.place) - 1 FROM queue_tokens q
                                                  WHERE q.room_id = r.id AND q.status = 'waiting'), 0)),
            active_count = p.active + COALESCE(pr.n, 0),
            admitted_total = r.admitted_total + COALESCE(pr.n, 0),
            expired_total = r.expired_total + COALESCE(e.a + e.i, 0),
            carry = CASE WHEN p.state = 'open'
                         THEN LEAST(GREATEST(p.credit - COALESCE(pr.n, 0), 0), GREATEST(1, p.rate * p_tick_seconds))
                         ELSE 0 END,
            last_tick_at = now()
        FROM locked l
        JOIN plan p ON p.id = l.id
        LEFT JOIN per_room pr ON pr.room_id = p.id
        LEFT JOIN expired e ON e.room_id = p.id
        WHERE r.id = l.id
        RETURNING r.id, r.state, r.admitted_through, r.active_count, p.rate,
                  COALESCE(pr.n, 0) AS n, COALESCE(e.a, 0) AS a, COALESCE(e.i, 0) AS i
    )
    SELECT m.id, m.state, m.n, m.a, m.i, m.active_count,
           -- Places handed out and not yet passed: in a scheduled room, its whole pre-queue.
           GREATEST(COALESCE(pg_sequence_last_value(format('room_places_%s', m.id)::regclass), 0) - m.admitted_through, 0),
           m.admitted_through, m.rate
    FROM marked m
    ORDER BY m.id;
END
$$;

--
-- Name: stagedoor_claim_jobs(integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.stagedoor_claim_jobs(batch integer) RETURNS TABLE(id bigint, kind text, payload text, attempts integer, max_attempts integer, user_id bigint, waited double precision)
    LANGUAGE plpgsql
    SET enable_bitmapscan TO 'off'
    SET enable_seqscan TO 'off'
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

--
-- Name: stagedoor_enqueue_booking_jobs(text[], text[], bigint[], text[], bytea[], integer[], boolean, bytea[], bigint[], integer[], integer[], integer[], text[], bigint[], bigint[]); Type: PROCEDURE; Schema: public; Owner: -
--

CREATE PROCEDURE public.stagedoor_enqueue_booking_jobs(IN p_kinds text[], IN p_payloads text[], IN p_user_ids bigint[], IN p_keys text[], IN p_hashes bytea[], IN p_max_attempts integer[], IN p_notify boolean, IN p_gates bytea[], IN p_seat_schedules bigint[], IN p_seat_nos integer[], IN p_max_holds integer[], IN p_refusal_statuses integer[], IN p_refusal_bodies text[], IN p_room_schedules bigint[], IN p_room_reservations bigint[], OUT o_created boolean[], OUT o_ids bigint[], OUT o_gates text[], OUT o_statuses integer[], OUT o_bodies text[])
    LANGUAGE plpgsql
    AS $$
BEGIN
    CALL stagedoor_enqueue_booking_jobs(p_kinds, p_payloads, p_user_ids, p_keys, p_hashes, p_max_attempts,
                                        array_fill(''::text, ARRAY[cardinality(p_kinds)]), p_notify, p_gates,
                                        p_seat_schedules, p_seat_nos, p_max_holds, p_refusal_statuses, p_refusal_bodies,
                                        p_room_schedules, p_room_reservations, o_created, o_ids, o_gates, o_statuses, o_bodies);
END
$$;

--
-- Name: stagedoor_enqueue_booking_jobs(text[], text[], bigint[], text[], bytea[], integer[], text[], boolean, bytea[], bigint[], integer[], integer[], integer[], text[], bigint[], bigint[]); Type: PROCEDURE; Schema: public; Owner: -
--

CREATE PROCEDURE public.stagedoor_enqueue_booking_jobs(IN p_kinds text[], IN p_payloads text[], IN p_user_ids bigint[], IN p_keys text[], IN p_hashes bytea[], IN p_max_attempts integer[], IN p_reply_channels text[], IN p_notify boolean, IN p_gates bytea[], IN p_seat_schedules bigint[], IN p_seat_nos integer[], IN p_max_holds integer[], IN p_refusal_statuses integer[], IN p_refusal_bodies text[], IN p_room_schedules bigint[], IN p_room_reservations bigint[], OUT o_created boolean[], OUT o_ids bigint[], OUT o_gates text[], OUT o_statuses integer[], OUT o_bodies text[])
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

--
-- Name: stagedoor_enqueue_jobs(text[], text[], bigint[], text[], bytea[], integer[], boolean); Type: PROCEDURE; Schema: public; Owner: -
--

CREATE PROCEDURE public.stagedoor_enqueue_jobs(IN p_kinds text[], IN p_payloads text[], IN p_user_ids bigint[], IN p_keys text[], IN p_hashes bytea[], IN p_max_attempts integer[], IN p_notify boolean, OUT o_created boolean[], OUT o_ids bigint[])
    LANGUAGE plpgsql
    AS $$
BEGIN
    CALL stagedoor_enqueue_jobs(p_kinds, p_payloads, p_user_ids, p_keys, p_hashes, p_max_attempts,
                                array_fill(''::text, ARRAY[cardinality(p_kinds)]), p_notify, o_created, o_ids);
END
$$;

--
-- Name: stagedoor_enqueue_jobs(text[], text[], bigint[], text[], bytea[], integer[], text[], boolean); Type: PROCEDURE; Schema: public; Owner: -
--

CREATE PROCEDURE public.stagedoor_enqueue_jobs(IN p_kinds text[], IN p_payloads text[], IN p_user_ids bigint[], IN p_keys text[], IN p_hashes bytea[], IN p_max_attempts integer[], IN p_reply_channels text[], IN p_notify boolean, OUT o_created boolean[], OUT o_ids bigint[])
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

--
-- Name: stagedoor_finish_jobs(bigint[], integer[], text[]); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.stagedoor_finish_jobs(ids bigint[], statuses integer[], bodies text[]) RETURNS TABLE(id bigint, status integer, body text, channel text)
    LANGUAGE plpgsql
    SET enable_seqscan TO 'off'
    SET enable_hashjoin TO 'off'
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

--
-- Name: stagedoor_insert_jobs(text[], text[], bigint[], text[], bytea[], integer[], text[], boolean[], integer[], text[], boolean); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.stagedoor_insert_jobs(p_kinds text[], p_payloads text[], p_user_ids bigint[], p_keys text[], p_hashes bytea[], p_max_attempts integer[], p_reply_channels text[], p_inserts boolean[], p_statuses integer[], p_bodies text[], p_notify boolean) RETURNS TABLE(n integer, created boolean, id bigint, status integer, body text)
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

--
-- Name: stagedoor_issue_tokens(bytea[], bytea[], bytea[], bigint[]); Type: PROCEDURE; Schema: public; Owner: -
--

CREATE PROCEDURE public.stagedoor_issue_tokens(IN p_key_hashes bytea[], IN p_token_hashes bytea[], IN p_salts bytea[], IN p_rooms bigint[], OUT o_user_ids bigint[], OUT o_ids bigint[], OUT o_places bigint[], OUT o_last_seen timestamp with time zone[], OUT o_statuses text[], OUT o_room_states text[], OUT o_opens_at timestamp with time zone[], OUT o_admitted_through bigint[], OUT o_admit_per_second double precision[], OUT o_idle_ttl double precision[], OUT o_now timestamp with time zone)
    LANGUAGE plpgsql
    AS $$
BEGIN
    WITH req AS (
        SELECT * FROM unnest(p_key_hashes, p_token_hashes, p_salts, p_rooms)
            WITH ORDINALITY AS r(key_hash, token_hash, salt, room_id, n)
    ), who AS (
        SELECT r.n, u.id AS user_id, r.token_hash, r.salt, r.room_id
        FROM req r CROSS JOIN LATERAL (SELECT id FROM users WHERE api_key_hash = r.key_hash LIMIT 1) u
    ), fresh AS (
        -- The first request of each user and room, when the room exists and the user has no live token there.
        SELECT DISTINCT ON (w.user_id, w.room_id) w.n, w.user_id, w.token_hash, w.salt, w.room_id
        FROM who w
        WHERE EXISTS (SELECT 1 FROM rooms WHERE id = w.room_id)
          AND NOT EXISTS (SELECT 1 FROM queue_tokens q
                          WHERE q.user_id = w.user_id AND q.room_id = w.room_id AND q.status IN ('waiting', 'active'))
        ORDER BY w.user_id, w.room_id, w.n
    ), t AS (
        -- nextval in the target list is evaluated after the sort: places follow the requests' order.
        INSERT INTO queue_tokens (user_id, room_id, token_hash, salt, place)
        SELECT f.user_id, f.room_id, f.token_hash, f.salt, nextval(format('room_places_%s', f.room_id)::regclass)
        FROM fresh f
        ORDER BY f.n
        ON CONFLICT (user_id, room_id) WHERE status IN ('waiting', 'active') DO NOTHING
        RETURNING queue_tokens.id, queue_tokens.token_hash, queue_tokens.place, queue_tokens.status,
                  queue_tokens.expires_at, queue_tokens.last_seen_at, queue_tokens.room_id
    ), answers AS (
        SELECT r.n, COALESCE(k.user_id, 0) AS user_id, COALESCE(t.id, 0) AS id, COALESCE(t.place, 0) AS place,
               COALESCE(t.last_seen_at, now()) AS last_seen,
               CASE WHEN room.id IS NULL THEN 'no_room'
                    ELSE COALESCE(stagedoor_token_status(t.status, t.expires_at, t.last_seen_at, room.idle_ttl_seconds, room.state), '')
               END AS status,
               COALESCE(room.state, '') AS state, COALESCE(room.opens_at, 'epoch') AS opens_at, room.admitted_through, room.admit_per_second, room.idle_ttl_seconds
        FROM req r
        LEFT JOIN who k ON k.n = r.n
        LEFT JOIN t ON t.token_hash = r.token_hash
        LEFT JOIN rooms_in_force room ON room.id = r.room_id
    )
    SELECT array_agg(a.user_id ORDER BY a.n), array_agg(a.id ORDER BY a.n), array_agg(a.place ORDER BY a.n),
           array_agg(a.last_seen ORDER BY a.n), array_agg(a.status ORDER BY a.n), array_agg(a.state ORDER BY a.n),
           array_agg(a.opens_at ORDER BY a.n), array_agg(COALESCE(a.admitted_through, 0) ORDER BY a.n),
           array_agg(COALESCE(a.admit_per_second, 0) ORDER BY a.n), array_agg(COALESCE(a.idle_ttl_seconds, 0) ORDER BY a.n), now()
    INTO o_user_ids, o_ids, o_places, o_last_seen, o_statuses, o_room_states, o_opens_at, o_admitted_through,
         o_admit_per_second, o_idle_ttl, o_now
    FROM answers a;
    COMMIT;
END
$$;

--
-- Name: stagedoor_open_rooms(bigint, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.stagedoor_open_rooms(p_room_id bigint, p_state text DEFAULT 'open'::text) RETURNS TABLE(room_id bigint, drawn bigint)
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_ids bigint[];
BEGIN
    WITH due AS (
        -- In id order, as the tick locks them, and FOR NO KEY UPDATE, which the token issue's
        -- foreign-key checks (KEY SHARE) never wait for, nor it for them.
        SELECT r.id FROM rooms r
        WHERE r.state = 'scheduled'
          AND CASE WHEN p_room_id IS NULL THEN r.opens_at <= now() ELSE r.id = p_room_id END
        ORDER BY r.id
        FOR NO KEY UPDATE
    ), opened AS (
        UPDATE rooms r SET state = p_state, opened_at = now(), carry = 0, last_tick_at = now()
        FROM due WHERE r.id = due.id AND r.state = 'scheduled'
        RETURNING r.id
    )
    SELECT array_agg(id) INTO v_ids FROM opened;
    IF v_ids IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY
    WITH pre AS (
        SELECT q.id, q.room_id, q.place FROM queue_tokens q
        WHERE q.room_id = ANY (v_ids) AND q.status = 'waiting'
    ), shuffled AS (
        SELECT p.id, p.room_id, row_number() OVER (PARTITION BY p.room_id ORDER BY gen_random_uuid()) AS n FROM pre p
    ), places AS (
        SELECT p.room_id, p.place, row_number() OVER (PARTITION BY p.room_id ORDER BY p.place) AS n FROM pre p
    ), dealt AS (
        UPDATE queue_tokens q SET place = pl.place, last_seen_at = now()
        FROM shuffled sh JOIN places pl ON pl.room_id = sh.room_id AND pl.n = sh.n
        WHERE q.id = sh.id
        RETURNING q.room_id
    ), marked AS (
        SELECT v.id, count(d.room_id) AS drawn
        FROM unnest(v_ids) AS v(id) LEFT JOIN dealt d ON d.room_id = v.id
        GROUP BY v.id
    )
    SELECT * FROM marked;
END
$$;

--
-- Name: stagedoor_refuse_losing_rows(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.stagedoor_refuse_losing_rows() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    RAISE EXCEPTION 'rows of % are never deleted or renumbered: reservations name them', TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END
$$;

--
-- Name: stagedoor_reserve_seats(bigint[], bigint[], integer[], double precision, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.stagedoor_reserve_seats(user_ids bigint[], schedule_ids bigint[], seat_nos integer[], hold_seconds double precision, max_holds integer) RETURNS TABLE(n integer, outcome text, total_seats integer, price bigint, reservation_id bigint, hold_expires_at timestamp with time zone)
    LANGUAGE plpgsql
    AS $$
DECLARE
    jobs integer := coalesce(array_length(user_ids, 1), 0);
    outcomes text[] := array_fill(NULL::text, ARRAY[jobs]);
    totals integer[] := array_fill(NULL::integer, ARRAY[jobs]);
    prices bigint[] := array_fill(NULL::bigint, ARRAY[jobs]);
    ids bigint[] := array_fill(NULL::bigint, ARRAY[jobs]);
    expiries timestamptz[] := array_fill(NULL::timestamptz, ARRAY[jobs]);
    -- Indexed by the first job of the same (user, schedule) or the same seat.
    granted integer[] := array_fill(0, ARRAY[jobs]);
    limited boolean[] := array_fill(false, ARRAY[jobs]);
    taken boolean[] := array_fill(false, ARRAY[jobs]);
    key_of integer[] := array_fill(0, ARRAY[jobs]);
    -- The granted jobs, in order.
    g_n integer[] := '{}';
    lapsed bigint[] := '{}';
    j record;
    made record;
BEGIN
    IF jobs = 0 THEN
        RETURN;
    END IF;

    PERFORM pg_advisory_xact_lock(k.key)
    FROM (SELECT DISTINCT hashtextextended('holds:' || u || ':' || s, 0) AS key
          FROM unnest(user_ids, schedule_ids) AS t(u, s) ORDER BY 1) k;

    FOR j IN
        SELECT b.n::integer AS n, sc.id IS NOT NULL AS found, sc.total_seats, sc.price,
               st.status, st.hold_expires_at, st.reservation_id,
               min(b.n) OVER (PARTITION BY b.u, b.s)::integer AS key_first,
               min(b.n) OVER (PARTITION BY b.s, b.seat)::integer AS seat_first,
               (SELECT count(*)::int FROM reservations r
                WHERE r.user_id = b.u AND r.schedule_id = b.s AND r.status = 'held' AND r.hold_expires_at > now()) AS live,
               b.seat
        FROM unnest(user_ids, schedule_ids, seat_nos) WITH ORDINALITY AS b(u, s, seat, n)
        LEFT JOIN schedules sc ON sc.id = b.s
        LEFT JOIN seats st ON st.schedule_id = b.s AND st.seat_no = b.seat
        ORDER BY b.n
    LOOP
        totals[j.n] := j.total_seats;
        prices[j.n] := j.price;
        key_of[j.n] := j.key_first;
        IF NOT j.found THEN
            outcomes[j.n] := 'not_found';
        ELSIF j.seat < 1 OR j.seat > j.total_seats THEN
            outcomes[j.n] := 'invalid_seat';
        ELSIF j.live + granted[j.key_first] >= max_holds THEN
            outcomes[j.n] := 'already_reserved';
            limited[j.key_first] := true;
        ELSIF taken[j.seat_first] OR j.status = 'sold' OR (j.status = 'held' AND j.hold_expires_at >= now()) THEN
            outcomes[j.n] := 'seat_unavailable';
        ELSE
            granted[j.key_first] := granted[j.key_first] + 1;
            taken[j.seat_first] := true;
            g_n := g_n || j.n;
            IF j.status = 'held' THEN
                lapsed := lapsed || j.reservation_id;
            END IF;
        END IF;
    END LOOP;

    IF cardinality(g_n) > 0 THEN
        IF cardinality(lapsed) > 0 THEN
            UPDATE reservations SET status = 'expired', updated_at = now()
            WHERE id = ANY (lapsed) AND status = 'held' AND reservations.hold_expires_at < now();
        END IF;

        FOR made IN
            WITH granted_jobs AS (
                SELECT g.n, user_ids[g.n] AS u, schedule_ids[g.n] AS s, seat_nos[g.n] AS seat, prices[g.n] AS price,
                       nextval('reservations_id_seq'::regclass) AS id
                FROM unnest(g_n) WITH ORDINALITY AS g(n, o) ORDER BY g.o
            ), seat AS (
                UPDATE seats SET status = 'held', hold_expires_at = now() + make_interval(secs => hold_seconds),
                                 reservation_id = gj.id
                FROM granted_jobs gj
                WHERE seats.schedule_id = gj.s AND seats.seat_no = gj.seat
                  AND (seats.status = 'available' OR (seats.status = 'held' AND seats.hold_expires_at < now()))
                RETURNING gj.n, gj.u, gj.s, gj.seat, gj.price, gj.id, seats.hold_expires_at
            ), inserted AS (
                INSERT INTO reservations (id, user_id, schedule_id, seat_no, status, price, hold_expires_at)
                OVERRIDING SYSTEM VALUE
                SELECT seat.id, seat.u, seat.s, seat.seat, 'held', seat.price, seat.hold_expires_at FROM seat
                RETURNING reservations.id
            )
            SELECT seat.n, seat.id, seat.hold_expires_at FROM seat
        LOOP
            outcomes[made.n] := 'held';
            ids[made.n] := made.id;
            expiries[made.n] := made.hold_expires_at;
        END LOOP;

        FOR i IN 1 .. cardinality(g_n) LOOP
            IF outcomes[g_n[i]] IS NULL THEN
                IF limited[key_of[g_n[i]]] THEN
                    RAISE EXCEPTION 'a granted seat was taken meanwhile, and its hold may have refused another job of its user for the hold limit'
                        USING ERRCODE = 'serialization_failure';
                END IF;
                outcomes[g_n[i]] := 'seat_unavailable';
            END IF;
        END LOOP;
    END IF;

    RETURN QUERY
    SELECT i, outcomes[i], totals[i], prices[i], ids[i], expiries[i] FROM generate_series(1, jobs) AS i;
END
$$;

--
-- Name: stagedoor_room_places(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.stagedoor_room_places() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    EXECUTE format('CREATE SEQUENCE IF NOT EXISTS %I AS bigint', 'room_places_' || NEW.id);
    RETURN NEW;
END
$$;

--
-- Name: stagedoor_token_status(text, timestamp with time zone, timestamp with time zone, double precision, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.stagedoor_token_status(status text, expires_at timestamp with time zone, last_seen_at timestamp with time zone, idle_ttl_seconds double precision, room_state text) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
    SELECT CASE
        WHEN status = 'active' AND expires_at <= now() THEN 'expired'
        WHEN status = 'waiting' AND room_state <> 'scheduled'
             AND last_seen_at < now() - make_interval(secs => idle_ttl_seconds) THEN 'expired'
        ELSE status
    END
$$;

--
-- Name: concerts; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.concerts (
    id bigint NOT NULL,
    title text NOT NULL,
    artist text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    room_id bigint DEFAULT 1 NOT NULL,
    CONSTRAINT concerts_artist_check CHECK (((char_length(artist) >= 1) AND (char_length(artist) <= 200))),
    CONSTRAINT concerts_title_check CHECK (((char_length(title) >= 1) AND (char_length(title) <= 200)))
);

--
-- Name: concerts_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.concerts ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.concerts_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: jobs; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.jobs (
    id bigint NOT NULL,
    kind text NOT NULL,
    payload jsonb NOT NULL,
    state text DEFAULT 'queued'::text NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    max_attempts integer DEFAULT 5 NOT NULL,
    run_at timestamp with time zone DEFAULT now() NOT NULL,
    user_id bigint,
    idempotency_key text,
    request_hash bytea,
    response_status integer,
    response_body jsonb,
    last_error text,
    created_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    started_at timestamp with time zone,
    finished_at timestamp with time zone,
    reply_channel text,
    CONSTRAINT jobs_check CHECK (((state = 'queued'::text) = (finished_at IS NULL))),
    CONSTRAINT jobs_max_attempts_check CHECK ((max_attempts >= 1)),
    CONSTRAINT jobs_state_check CHECK ((state = ANY (ARRAY['queued'::text, 'succeeded'::text, 'dead'::text])))
)
WITH (fillfactor='70', autovacuum_vacuum_scale_factor='0.01', autovacuum_vacuum_threshold='1000', autovacuum_analyze_scale_factor='0.02', autovacuum_vacuum_cost_delay='0');

--
-- Name: jobs_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.jobs ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.jobs_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: payments; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.payments (
    id bigint NOT NULL,
    reservation_id bigint NOT NULL,
    user_id bigint NOT NULL,
    amount bigint NOT NULL,
    paid_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT payments_amount_check CHECK ((amount >= 0))
);

--
-- Name: payments_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.payments ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.payments_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: point_history; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.point_history (
    id bigint NOT NULL,
    user_id bigint NOT NULL,
    kind text NOT NULL,
    amount bigint NOT NULL,
    balance_after bigint NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT point_history_amount_check CHECK ((amount > 0)),
    CONSTRAINT point_history_balance_after_check CHECK ((balance_after >= 0)),
    CONSTRAINT point_history_kind_check CHECK ((kind = ANY (ARRAY['charge'::text, 'payment'::text, 'refund'::text])))
);

--
-- Name: point_history_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.point_history ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.point_history_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: queue_tokens; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.queue_tokens (
    id bigint NOT NULL,
    user_id bigint NOT NULL,
    token_hash bytea NOT NULL,
    salt bytea NOT NULL,
    seq bigint NOT NULL,
    status text DEFAULT 'waiting'::text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    last_seen_at timestamp with time zone DEFAULT now() NOT NULL,
    activated_at timestamp with time zone,
    expires_at timestamp with time zone,
    ended_at timestamp with time zone,
    room_id bigint DEFAULT 1 NOT NULL,
    place bigint,
    CONSTRAINT queue_tokens_salt_check CHECK ((octet_length(salt) = 16)),
    CONSTRAINT queue_tokens_status_check CHECK ((status = ANY (ARRAY['waiting'::text, 'active'::text, 'done'::text, 'expired'::text]))),
    CONSTRAINT queue_tokens_token_hash_check CHECK ((octet_length(token_hash) = 32))
);

--
-- Name: queue_token_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.queue_token_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: queue_token_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.queue_token_seq OWNED BY public.queue_tokens.seq;

--
-- Name: queue_tokens_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.queue_tokens ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.queue_tokens_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: reservations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.reservations (
    id bigint NOT NULL,
    user_id bigint NOT NULL,
    schedule_id bigint NOT NULL,
    seat_no integer NOT NULL,
    status text NOT NULL,
    price bigint NOT NULL,
    hold_expires_at timestamp with time zone NOT NULL,
    paid_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT reservations_check CHECK (((status = 'paid'::text) = (paid_at IS NOT NULL))),
    CONSTRAINT reservations_price_check CHECK ((price >= 0)),
    CONSTRAINT reservations_status_check CHECK ((status = ANY (ARRAY['held'::text, 'paid'::text, 'expired'::text, 'cancelled'::text])))
);

--
-- Name: reservations_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.reservations ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.reservations_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: room_defaults; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.room_defaults (
    id integer NOT NULL,
    admit_per_second double precision DEFAULT 50 NOT NULL,
    max_active integer DEFAULT 2000 NOT NULL,
    active_ttl_seconds double precision DEFAULT 600 NOT NULL,
    idle_ttl_seconds double precision DEFAULT 120 NOT NULL,
    CONSTRAINT room_defaults_active_ttl_seconds_check CHECK ((active_ttl_seconds > (0)::double precision)),
    CONSTRAINT room_defaults_admit_per_second_check CHECK ((admit_per_second > (0)::double precision)),
    CONSTRAINT room_defaults_id_check CHECK ((id = 1)),
    CONSTRAINT room_defaults_idle_ttl_seconds_check CHECK ((idle_ttl_seconds > (0)::double precision)),
    CONSTRAINT room_defaults_max_active_check CHECK ((max_active > 0))
);

--
-- Name: room_places_1; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.room_places_1
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: rooms; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.rooms (
    id bigint NOT NULL,
    name text NOT NULL,
    state text NOT NULL,
    opens_at timestamp with time zone,
    opened_at timestamp with time zone,
    admit_per_second double precision,
    max_active integer,
    active_ttl_seconds double precision,
    idle_ttl_seconds double precision,
    admitted_through bigint DEFAULT 0 NOT NULL,
    active_count integer DEFAULT 0 NOT NULL,
    admitted_total bigint DEFAULT 0 NOT NULL,
    expired_total bigint DEFAULT 0 NOT NULL,
    carry double precision DEFAULT 0 NOT NULL,
    last_tick_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT rooms_active_ttl_seconds_check CHECK ((active_ttl_seconds > (0)::double precision)),
    CONSTRAINT rooms_admit_per_second_check CHECK ((admit_per_second > (0)::double precision)),
    CONSTRAINT rooms_check CHECK (((state = 'scheduled'::text) OR (opened_at IS NOT NULL))),
    CONSTRAINT rooms_check1 CHECK (((state <> 'scheduled'::text) OR (opens_at IS NOT NULL))),
    CONSTRAINT rooms_idle_ttl_seconds_check CHECK ((idle_ttl_seconds > (0)::double precision)),
    CONSTRAINT rooms_max_active_check CHECK ((max_active > 0)),
    CONSTRAINT rooms_name_check CHECK (((char_length(name) >= 1) AND (char_length(name) <= 200))),
    CONSTRAINT rooms_state_check CHECK ((state = ANY (ARRAY['scheduled'::text, 'open'::text, 'paused'::text])))
);

--
-- Name: rooms_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.rooms ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (
    SEQUENCE NAME public.rooms_id_seq
    START WITH 2
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: rooms_in_force; Type: VIEW; Schema: public; Owner: -
--

CREATE VIEW public.rooms_in_force AS
 SELECT r.id,
    r.name,
    r.state,
    r.opens_at,
    r.opened_at,
    COALESCE(r.admit_per_second, d.admit_per_second) AS admit_per_second,
    COALESCE(r.max_active, d.max_active) AS max_active,
    COALESCE(r.active_ttl_seconds, d.active_ttl_seconds) AS active_ttl_seconds,
    COALESCE(r.idle_ttl_seconds, d.idle_ttl_seconds) AS idle_ttl_seconds,
    r.admitted_through,
    r.active_count,
    r.admitted_total,
    r.expired_total,
    r.carry,
    r.last_tick_at
   FROM (public.rooms r
     CROSS JOIN public.room_defaults d)
  WHERE (d.id = 1);

--
-- Name: schedules; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.schedules (
    id bigint NOT NULL,
    concert_id bigint NOT NULL,
    starts_at timestamp with time zone NOT NULL,
    price bigint NOT NULL,
    total_seats integer NOT NULL,
    CONSTRAINT schedules_price_check CHECK ((price >= 0)),
    CONSTRAINT schedules_total_seats_check CHECK (((total_seats >= 1) AND (total_seats <= 1000)))
);

--
-- Name: schedules_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.schedules ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.schedules_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: schema_migrations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.schema_migrations (
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);

--
-- Name: seats; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.seats (
    schedule_id bigint NOT NULL,
    seat_no integer NOT NULL,
    status text DEFAULT 'available'::text NOT NULL,
    reservation_id bigint,
    hold_expires_at timestamp with time zone,
    CONSTRAINT seats_check CHECK (((status = 'held'::text) = (hold_expires_at IS NOT NULL))),
    CONSTRAINT seats_seat_no_check CHECK ((seat_no >= 1)),
    CONSTRAINT seats_status_check CHECK ((status = ANY (ARRAY['available'::text, 'held'::text, 'sold'::text])))
);

--
-- Name: users; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.users (
    id bigint NOT NULL,
    name text NOT NULL,
    api_key_hash bytea NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT users_api_key_hash_check CHECK ((octet_length(api_key_hash) = 32)),
    CONSTRAINT users_name_check CHECK (((char_length(name) >= 1) AND (char_length(name) <= 100)))
);

--
-- Name: users_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.users ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.users_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: wallets; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.wallets (
    user_id bigint NOT NULL,
    balance bigint DEFAULT 0 NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT wallets_balance_check CHECK (((balance >= 0) AND (balance <= '9000000000000000000'::bigint)))
);

--
-- Name: queue_tokens seq; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.queue_tokens ALTER COLUMN seq SET DEFAULT nextval('public.queue_token_seq'::regclass);

--
-- Name: concerts concerts_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.concerts
    ADD CONSTRAINT concerts_pkey PRIMARY KEY (id);

--
-- Name: jobs jobs_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.jobs
    ADD CONSTRAINT jobs_pkey PRIMARY KEY (id);

--
-- Name: payments payments_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.payments
    ADD CONSTRAINT payments_pkey PRIMARY KEY (id);

--
-- Name: payments payments_reservation_id_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.payments
    ADD CONSTRAINT payments_reservation_id_key UNIQUE (reservation_id);

--
-- Name: point_history point_history_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.point_history
    ADD CONSTRAINT point_history_pkey PRIMARY KEY (id);

--
-- Name: queue_tokens queue_tokens_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.queue_tokens
    ADD CONSTRAINT queue_tokens_pkey PRIMARY KEY (id);

--
-- Name: queue_tokens queue_tokens_seq_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.queue_tokens
    ADD CONSTRAINT queue_tokens_seq_key UNIQUE (seq);

--
-- Name: queue_tokens queue_tokens_token_hash_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.queue_tokens
    ADD CONSTRAINT queue_tokens_token_hash_key UNIQUE (token_hash);

--
-- Name: reservations reservations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.reservations
    ADD CONSTRAINT reservations_pkey PRIMARY KEY (id);

--
-- Name: room_defaults room_defaults_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.room_defaults
    ADD CONSTRAINT room_defaults_pkey PRIMARY KEY (id);

--
-- Name: rooms rooms_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.rooms
    ADD CONSTRAINT rooms_pkey PRIMARY KEY (id);

--
-- Name: schedules schedules_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.schedules
    ADD CONSTRAINT schedules_pkey PRIMARY KEY (id);

--
-- Name: schema_migrations schema_migrations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (name);

--
-- Name: seats seats_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.seats
    ADD CONSTRAINT seats_pkey PRIMARY KEY (schedule_id, seat_no);

--
-- Name: users users_api_key_hash_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_api_key_hash_key UNIQUE (api_key_hash);

--
-- Name: users users_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_pkey PRIMARY KEY (id);

--
-- Name: wallets wallets_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.wallets
    ADD CONSTRAINT wallets_pkey PRIMARY KEY (user_id);

--
-- Name: concerts_room_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX concerts_room_idx ON public.concerts USING btree (room_id);

--
-- Name: jobs_claim_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX jobs_claim_idx ON public.jobs USING btree (id) WHERE (state = 'queued'::text);

--
-- Name: jobs_dead_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX jobs_dead_idx ON public.jobs USING btree (id) WHERE (state = 'dead'::text);

--
-- Name: jobs_idempotency_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX jobs_idempotency_idx ON public.jobs USING btree (user_id, kind, idempotency_key) WHERE (idempotency_key IS NOT NULL);

--
-- Name: jobs_retention_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX jobs_retention_idx ON public.jobs USING btree (finished_at) WHERE (state = 'succeeded'::text);

--
-- Name: point_history_user_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX point_history_user_idx ON public.point_history USING btree (user_id, id DESC);

--
-- Name: queue_tokens_active_expiry_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX queue_tokens_active_expiry_idx ON public.queue_tokens USING btree (expires_at) WHERE (status = 'active'::text);

--
-- Name: queue_tokens_active_room_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX queue_tokens_active_room_idx ON public.queue_tokens USING btree (room_id) WHERE (status = 'active'::text);

--
-- Name: queue_tokens_one_live_per_user_room; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX queue_tokens_one_live_per_user_room ON public.queue_tokens USING btree (user_id, room_id) WHERE (status = ANY (ARRAY['waiting'::text, 'active'::text]));

--
-- Name: queue_tokens_waiting_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX queue_tokens_waiting_idx ON public.queue_tokens USING btree (room_id, place) WHERE (status = 'waiting'::text);

--
-- Name: queue_tokens_waiting_seen_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX queue_tokens_waiting_seen_idx ON public.queue_tokens USING btree (last_seen_at) WHERE (status = 'waiting'::text);

--
-- Name: reservations_one_held_per_seat; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX reservations_one_held_per_seat ON public.reservations USING btree (schedule_id, seat_no) WHERE (status = 'held'::text);

--
-- Name: reservations_one_paid_per_seat; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX reservations_one_paid_per_seat ON public.reservations USING btree (schedule_id, seat_no) WHERE (status = 'paid'::text);

--
-- Name: reservations_user_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX reservations_user_idx ON public.reservations USING btree (user_id, id);

--
-- Name: reservations_user_schedule_live_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX reservations_user_schedule_live_idx ON public.reservations USING btree (user_id, schedule_id, hold_expires_at) WHERE (status = 'held'::text);

--
-- Name: schedules_concert_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX schedules_concert_idx ON public.schedules USING btree (concert_id, starts_at);

--
-- Name: seats_hold_expiry_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX seats_hold_expiry_idx ON public.seats USING btree (hold_expires_at) WHERE (status = 'held'::text);

--
-- Name: rooms rooms_places; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER rooms_places AFTER INSERT ON public.rooms FOR EACH ROW EXECUTE FUNCTION public.stagedoor_room_places();

--
-- Name: seats seats_kept; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER seats_kept BEFORE DELETE OR TRUNCATE ON public.seats FOR EACH STATEMENT EXECUTE FUNCTION public.stagedoor_refuse_losing_rows();

--
-- Name: seats seats_keys_kept; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER seats_keys_kept BEFORE UPDATE OF schedule_id, seat_no ON public.seats FOR EACH STATEMENT EXECUTE FUNCTION public.stagedoor_refuse_losing_rows();

--
-- Name: users users_kept; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER users_kept BEFORE DELETE OR TRUNCATE ON public.users FOR EACH STATEMENT EXECUTE FUNCTION public.stagedoor_refuse_losing_rows();

--
-- Name: concerts concerts_room_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.concerts
    ADD CONSTRAINT concerts_room_id_fkey FOREIGN KEY (room_id) REFERENCES public.rooms(id);

--
-- Name: payments payments_reservation_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.payments
    ADD CONSTRAINT payments_reservation_id_fkey FOREIGN KEY (reservation_id) REFERENCES public.reservations(id);

--
-- Name: payments payments_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.payments
    ADD CONSTRAINT payments_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id);

--
-- Name: point_history point_history_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.point_history
    ADD CONSTRAINT point_history_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id);

--
-- Name: queue_tokens queue_tokens_room_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.queue_tokens
    ADD CONSTRAINT queue_tokens_room_id_fkey FOREIGN KEY (room_id) REFERENCES public.rooms(id);

--
-- Name: queue_tokens queue_tokens_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.queue_tokens
    ADD CONSTRAINT queue_tokens_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id);

--
-- Name: schedules schedules_concert_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.schedules
    ADD CONSTRAINT schedules_concert_id_fkey FOREIGN KEY (concert_id) REFERENCES public.concerts(id);

--
-- Name: seats seats_schedule_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.seats
    ADD CONSTRAINT seats_schedule_id_fkey FOREIGN KEY (schedule_id) REFERENCES public.schedules(id);

--
-- Name: wallets wallets_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.wallets
    ADD CONSTRAINT wallets_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id);

--
-- PostgreSQL database dump complete
--

