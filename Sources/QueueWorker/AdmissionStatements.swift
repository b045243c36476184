import PostgresNIO

/// The admission tick's statements, run by the leader on its own session.
enum AdmissionStatements {
    /// Expires active tokens past their TTL and waiting tokens not polled within the idle TTL;
    /// returns (expired active, expired idle, active before this statement, last issued seq, admitted through,
    /// the transaction's `now()` in microseconds since the epoch).
    static func expire(idleTTL: Double) -> PostgresQuery {
        """
        WITH expired_active AS (
            UPDATE queue_tokens SET status = 'expired', ended_at = now()
            WHERE status = 'active' AND expires_at <= now()
            RETURNING 1
        ), expired_idle AS (
            UPDATE queue_tokens SET status = 'expired', ended_at = now()
            WHERE status = 'waiting' AND last_seen_at < now() - make_interval(secs => \(idleTTL))
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM expired_active), (SELECT count(*) FROM expired_idle),
               (SELECT count(*) FROM queue_tokens WHERE status = 'active'),
               (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM queue_token_seq),
               (SELECT admitted_through FROM waiting_room WHERE id = 1),
               (extract(epoch FROM now()) * 1000000)::int8
        """
    }

    /// Admits the `limit` oldest waiting tokens and records the room's state and settings;
    /// returns (admitted, admitted through).
    static func admit(limit: Int, activeTTL: Double, activeBefore: Int, admitPerSecond: Double, maxActive: Int,
                      idleTTL: Double) -> PostgresQuery {
        """
        WITH next AS (
            SELECT id FROM queue_tokens WHERE status = 'waiting' ORDER BY seq LIMIT \(limit) FOR UPDATE
        ), admitted AS (
            UPDATE queue_tokens t
            SET status = 'active', activated_at = now(), expires_at = now() + make_interval(secs => \(activeTTL))
            FROM next WHERE t.id = next.id
            RETURNING t.seq
        ), room AS (
            UPDATE waiting_room
            SET admitted_through = GREATEST(admitted_through, COALESCE((SELECT max(seq) FROM admitted), 0)),
                active_count = \(activeBefore) + (SELECT count(*) FROM admitted),
                admit_per_second = \(admitPerSecond), max_active = \(maxActive), idle_ttl_seconds = \(idleTTL),
                last_tick_at = now()
            WHERE id = 1
            RETURNING admitted_through
        )
        SELECT (SELECT count(*) FROM admitted), (SELECT admitted_through FROM room)
        """
    }

    /// Takes the admission leadership if nobody holds it (a session lock: it ends with the session).
    static let tryLead: PostgresQuery = "SELECT pg_try_advisory_lock(\(leaderLockClass), \(leaderLockObject))"
    static let leaderLockClass: Int32 = 0x5354  // "ST"
    static let leaderLockObject: Int32 = 1  // the waiting room's id
}
