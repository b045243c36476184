-- Issues queue tokens for a batch of requests and commits, in one CALL: a client is told a token's
-- secret only once its row is committed (the row CALL returns is sent after the COMMIT inside it).
--
-- Finds each request's user by API-key digest and inserts a token in the requested room for those
-- with no live one there, its place the next of the room's sequence (stagedoor_room_places), in the
-- requests' order. No row is locked for it. While the room is `scheduled` the token is in the
-- pre-queue: the opening shuffles the pre-queue's places among its tokens (stagedoor_open_rooms).
-- An issue that races the opening — its snapshot still shows the room scheduled, its commit comes
-- after the draw's snapshot — keeps the place it took, right where it arrived: it gains nothing.
--
-- Per request, in order: the user's id (0: no user has the key) and, when a token was inserted, its
-- id, place, last-seen time and status as clients see it (id 0, place 0, now and '' when none was:
-- the user already has a live token in the room, another request of the batch took one, or the
-- room does not exist — then the status is 'no_room'). Then, per request, its room's state, opening
-- time ('epoch' for none), admitted-through mark, rate and idle TTL ('', 'epoch' and zeros for an
-- unknown room: arrays carry no NULLs to the client), and the transaction's now().
CREATE OR REPLACE PROCEDURE stagedoor_issue_tokens(
    p_key_hashes bytea[], p_token_hashes bytea[], p_salts bytea[], p_rooms bigint[],
    OUT o_user_ids bigint[], OUT o_ids bigint[], OUT o_places bigint[], OUT o_last_seen timestamptz[],
    OUT o_statuses text[], OUT o_room_states text[], OUT o_opens_at timestamptz[], OUT o_admitted_through bigint[],
    OUT o_admit_per_second double precision[], OUT o_idle_ttl double precision[], OUT o_now timestamptz)
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
