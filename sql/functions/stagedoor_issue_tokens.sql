-- Issues queue tokens for a batch of requests and commits, in one CALL: a client is told a token's
-- secret only once its row is committed (the row CALL returns is sent after the COMMIT inside it).
--
-- Finds each request's user by API-key digest and inserts a token for those with no live one,
-- places in line following the requests' order. Per request, in order: the user's id (0: no user
-- has the key) and, when a token was inserted, its id, seq, last-seen time and status as clients see
-- it (id 0, seq 0, now and '' when none was: the user already has a live token, or another request
-- of the batch took one). A new token is never yet activated, so its activation and expiry times are
-- NULL and not returned. Then the waiting room's figures the answer needs, read in the same
-- transaction.
CREATE OR REPLACE PROCEDURE stagedoor_issue_tokens(
    p_key_hashes bytea[], p_token_hashes bytea[], p_salts bytea[],
    OUT o_user_ids bigint[], OUT o_ids bigint[], OUT o_seqs bigint[], OUT o_last_seen timestamptz[],
    OUT o_statuses text[], OUT o_now timestamptz, OUT o_admitted_through bigint,
    OUT o_admit_per_second double precision, OUT o_idle_ttl double precision)
LANGUAGE plpgsql
AS $$
BEGIN
    WITH req AS (
        SELECT * FROM unnest(p_key_hashes, p_token_hashes, p_salts) WITH ORDINALITY AS r(key_hash, token_hash, salt, n)
    ), who AS (
        SELECT r.n, u.id AS user_id, r.token_hash, r.salt
        FROM req r CROSS JOIN LATERAL (SELECT id FROM users WHERE api_key_hash = r.key_hash LIMIT 1) u
    ), first AS (
        SELECT DISTINCT ON (who.user_id) who.n, who.user_id, who.token_hash, who.salt FROM who ORDER BY who.user_id, who.n
    ), t AS (
        INSERT INTO queue_tokens (user_id, token_hash, salt)
        SELECT f.user_id, f.token_hash, f.salt FROM first f
        WHERE NOT EXISTS (SELECT 1 FROM queue_tokens q WHERE q.user_id = f.user_id AND q.status IN ('waiting', 'active'))
        ORDER BY f.n
        ON CONFLICT (user_id) WHERE status IN ('waiting', 'active') DO NOTHING
        RETURNING queue_tokens.id, queue_tokens.token_hash, queue_tokens.seq, queue_tokens.status,
                  queue_tokens.expires_at, queue_tokens.last_seen_at
    ), answers AS (
        SELECT r.n, COALESCE(k.user_id, 0) AS user_id, COALESCE(t.id, 0) AS id, COALESCE(t.seq, 0) AS seq,
               COALESCE(t.last_seen_at, now()) AS last_seen,
               COALESCE(stagedoor_token_status(t.status, t.expires_at, t.last_seen_at, w.idle_ttl_seconds), '') AS status
        FROM req r
        LEFT JOIN who k ON k.n = r.n
        LEFT JOIN t ON t.token_hash = r.token_hash
        CROSS JOIN waiting_room w
        WHERE w.id = 1
    )
    SELECT array_agg(a.user_id ORDER BY a.n), array_agg(a.id ORDER BY a.n), array_agg(a.seq ORDER BY a.n),
           array_agg(a.last_seen ORDER BY a.n), array_agg(a.status ORDER BY a.n)
    INTO o_user_ids, o_ids, o_seqs, o_last_seen, o_statuses
    FROM answers a;
    SELECT now(), w.admitted_through, w.admit_per_second, w.idle_ttl_seconds
    INTO o_now, o_admitted_through, o_admit_per_second, o_idle_ttl
    FROM waiting_room w WHERE w.id = 1;
    COMMIT;
END
$$;
