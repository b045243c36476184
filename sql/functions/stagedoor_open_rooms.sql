-- Takes rooms out of `scheduled` and draws their pre-queue's order: every scheduled room whose
-- `opens_at` has come (p_room_id NULL: the admission leader, before each tick, in a transaction of
-- its own), or one room now, to `p_state` (an
-- operator's PATCH; 'open' or 'paused'). Returns each room it took out and how many tokens it drew.
--
-- The fair start: the room's row is locked first (the token issue numbers places under the same
-- lock, stagedoor_issue_tokens), then one statement — with a snapshot taken after the lock, so it
-- sees every token issued while the room was scheduled — gives the pre-queue places 1, 2, … in a
-- uniformly random order (gen_random_uuid(): 122 random bits from the server's strong random
-- source, nothing a client sends), and starts their idle TTL at the opening. Tokens issued after
-- the commit take the places behind. Run twice for one room, the second finds it no longer
-- scheduled and draws nothing: the draw happens once.
CREATE OR REPLACE FUNCTION stagedoor_open_rooms(p_room_id bigint, p_state text DEFAULT 'open')
RETURNS TABLE (room_id bigint, drawn bigint)
LANGUAGE plpgsql
AS $$
DECLARE
    v_ids bigint[];
BEGIN
    WITH due AS (
        -- In id order, as every writer of rooms locks them.
        SELECT r.id FROM rooms r
        WHERE r.state = 'scheduled'
          AND CASE WHEN p_room_id IS NULL THEN r.opens_at <= now() ELSE r.id = p_room_id END
        ORDER BY r.id
        FOR UPDATE
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
    WITH drawn AS (
        SELECT q.id, q.room_id, row_number() OVER (PARTITION BY q.room_id ORDER BY gen_random_uuid()) AS n
        FROM queue_tokens q
        WHERE q.room_id = ANY (v_ids) AND q.status = 'waiting' AND q.place IS NULL
    ), placed AS (
        UPDATE queue_tokens q SET place = d.n, last_seen_at = now()
        FROM drawn d WHERE q.id = d.id
        RETURNING q.room_id
    ), counted AS (
        SELECT p.room_id, count(*) AS n FROM placed p GROUP BY p.room_id
    ), marked AS (
        UPDATE rooms r SET issued_through = r.issued_through + COALESCE(c.n, 0), prequeue = 0
        FROM unnest(v_ids) AS v(id) LEFT JOIN counted c ON c.room_id = v.id
        WHERE r.id = v.id
        RETURNING r.id, COALESCE(c.n, 0)
    )
    SELECT * FROM marked;
END
$$;
