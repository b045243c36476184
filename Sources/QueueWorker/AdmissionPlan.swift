/// How many waiting tokens one tick may admit: the configured rate over the time since the last
/// tick (fractions carried to the next tick, so 2.5/s alternates 2 and 3), never above the cap on
/// active tokens, and never more than ⌈rate × tick⌉ in one tick: a late tick does not catch up in a
/// burst (at 20/s with a 1 s tick a late one admitted 40). The service keeps ticks on their grid, so
/// the tick after a late one comes sooner and the rate holds over time.
///
/// Its clock is the tick transaction's `now()` (the time each admitted token records as its
/// `activated_at`), not the process's: the rate is then exact where fans and operators see it. The
/// process's clock would differ by however long the tick's first statement took, which on a busy
/// machine is a good part of a tick.
struct AdmissionPlan: Sendable {
    let admitPerSecond: Double
    let maxActive: Int
    let tick: Duration
    private var carry: Double = 0
    private var lastTick: Duration?

    init(admitPerSecond: Double, maxActive: Int, tick: Duration) {
        self.admitPerSecond = admitPerSecond
        self.maxActive = maxActive
        self.tick = tick
    }

    /// The most this tick may admit, given the tick's time (any fixed origin: the database's
    /// `now()` since the epoch) and the number of tokens active now.
    mutating func allowance(at now: Duration, active: Int) -> Int {
        // A late tick (a busy machine) still admits for the time that passed, up to 2 s or two ticks;
        // a clock set back makes that one tick admit nothing.
        let elapsed = lastTick.map { min(max(now - $0, .zero), max(tick * 2, .seconds(2))) } ?? tick
        lastTick = now
        carry += admitPerSecond * elapsed.secondsValue
        let room = max(0, maxActive - active)
        return min(Int(carry.rounded(.down)), perTick, room)
    }

    /// The most one tick may admit, ⌈rate × tick⌉.
    var perTick: Int { Int((admitPerSecond * tick.secondsValue).rounded(.up)) }

    /// Records what the tick admitted. Unused allowance is kept only up to one tick's worth.
    mutating func admitted(_ count: Int) {
        carry = min(max(carry - Double(count), 0), max(1, admitPerSecond * tick.secondsValue))
    }

    /// Forgets timing, e.g. after losing and regaining leadership.
    mutating func reset() {
        carry = 0
        lastTick = nil
    }
}
