-- Takes rooms out of `scheduled` and draws their pre-queue's order: every scheduled room whose
-- `opens_at` has come (p_room_id NULL: the admission leader, before each tick, in a transaction of
-- its own), or one room now, to `p_state` (an operator's PATCH; 'open' or 'paused'). Returns each
-- room it took out and how many tokens it drew.
--
-- The fair start: the room leaves `scheduled` first (its row locked, in id order as every writer of
-- rooms locks them), then one statement — with a snapshot taken after that, so it sees every token
-- committed while the room was scheduled — deals the pre-queue's places (the ones its tokens took
-- on arrival, from the room's sequence) back out to those tokens in a uniformly random order
-- (gen_random_uuid(): 122 random bits from the server's strong random source, nothing a client
-- sends), and starts their idle time. Tokens issued after the opening take the places behind. Run
-- twice for one room, the second finds it no longer scheduled and draws nothing: the draw happens
-- once.
CREATE OR REPLACE FUNCTION stagedoor_open_rooms(p_room_id bigint, p_state text DEFAULT 'open')
RETURNS TABLE (room_id bigint, drawn bigint)
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
