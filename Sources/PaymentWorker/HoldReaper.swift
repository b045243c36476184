import Logging
import PostgresNIO
import ServiceLifecycle
import Shared

/// Releases seat holds that ran out: the reservation is `expired` and, unless someone has taken
/// the seat since, the seat is available again. Locks reservation → seat, as pay and cancel do.
/// Reservation time also treats a lapsed hold as available, so this keeps the seat map and
/// `GET /v1/reservations` tidy rather than deciding anything.
///
/// A sweep finds lapsed holds by the seats' expiry index (`seats_hold_expiry_idx`): a held seat
/// names its hold's reservation, which every change of a hold keeps so (reserve, pay, cancel and
/// this sweep change both rows in one transaction). Only the lapsed ones are read. Before, the
/// sweep read every held reservation to find them: in a benchmark database of 63,000 holds, 8 ms
/// a sweep with none lapsed (now 0.12 ms), 9 ms with 630 lapsed (now 5). Whether a hold ended is
/// still decided on the reservation's own row; the mixed-workload test checks the pairing.
struct HoldReaper: Service {
    let client: PostgresClient
    let every: Duration
    let logger: Logger

    /// One sweep; returns how many lapsed holds it ended.
    @discardableResult
    func sweep() async throws -> Int {
        var released = 0
        for try await count in try await client.query("""
            WITH lapsed AS (
                SELECT r.id, r.schedule_id, r.seat_no FROM reservations r
                WHERE r.id IN (
                    SELECT s.reservation_id FROM seats s
                    WHERE s.status = 'held' AND s.hold_expires_at < now()
                    ORDER BY s.hold_expires_at
                    LIMIT 1000)
                  AND r.status = 'held' AND r.hold_expires_at < now()
                ORDER BY r.id
                FOR UPDATE OF r SKIP LOCKED
            ), reservations_ended AS (
                UPDATE reservations r SET status = 'expired', updated_at = now()
                FROM lapsed l WHERE r.id = l.id
            ), seats_freed AS (
                UPDATE seats s SET status = 'available', hold_expires_at = NULL, reservation_id = NULL
                FROM lapsed l
                WHERE s.schedule_id = l.schedule_id AND s.seat_no = l.seat_no AND s.reservation_id = l.id AND s.status = 'held'
            )
            SELECT count(*)::int FROM lapsed
            """, logger: logger).decode(Int.self) { released = count }
        return released
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    let released = try await withDeadline(.seconds(30)) { try await sweep() }
                    if released > 0 { logger.info("released lapsed holds", metadata: ["holds.released": "\(released)"]) }
                } catch {
                    logger.warning("hold sweep failed", metadata: ["error": "\(String(reflecting: error))"])
                }
                try? await Task.sleep(for: every)
            }
        }
    }
}
