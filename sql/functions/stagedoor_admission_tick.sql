-- One admission tick for every room, run by the queue worker's leader as one statement (one round
-- trip, one transaction, whatever the number of rooms), right after the openings that are due
-- (stagedoor_open_rooms, its own transaction: see below). In order:
-- 1. records the queue worker's defaults (room_defaults) when they changed;
-- 2. expires active tokens past their expiry, and waiting tokens not seen within their room's idle
--    TTL (the pre-queue of a scheduled room never: its idle TTL counts from the opening);
-- 3. admits, in each open room, its lowest places: the rate over the time since the room's last tick
--    (fractions carried, at most one tick's worth), never more than ⌈rate × tick⌉ in one tick — a
--    late tick does not catch up in a burst — and never above the room's cap on active tokens; a
--    paused room admits nobody. Writes each room's marks and counts.
-- Returns one row per room: its state, what this tick did, and its counts after it.
--
-- Room rows are locked only by the last statement, all of them in id order, as an opening locks its
-- rooms: the opening runs in a transaction of its own, or the two orders could cross.
--
-- Statements are set-based over all rooms: admission picks each room's next tokens by index
-- (room_id, place), the active count reads the partial index of active tokens, and the expiry scans
-- only rows older than the shortest idle TTL of any room.
-- Dropped first: CREATE OR REPLACE cannot change the columns a function returns, and this one's grow.
DROP FUNCTION IF EXISTS stagedoor_admission_tick(double precision, double precision, integer, double precision, double precision);
CREATE OR REPLACE FUNCTION stagedoor_admission_tick(
    p_tick_seconds double precision, p_admit_per_second double precision, p_max_active integer,
    p_active_ttl_seconds double precision, p_idle_ttl_seconds double precision)
RETURNS TABLE (room_id bigint, state text, admitted integer, expired_active integer,
               expired_idle integer, active integer, waiting bigint, admitted_through bigint, admit_per_second double precision)
LANGUAGE plpgsql
-- The planner cannot know each room's LIMIT, guesses the admission large, and JIT-compiles: 30-60 ms
-- of a tick that takes about as long without it.
SET jit = off
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
