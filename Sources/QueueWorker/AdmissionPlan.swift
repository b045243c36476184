/// How many waiting tokens one tick may admit: the configured rate over the time since the last
/// tick (fractions carried to the next tick, so 2.5/s alternates 2 and 3), never above the cap on
/// active tokens, and never a burst after a long stall or while the line was empty.
struct AdmissionPlan: Sendable {
    let admitPerSecond: Double
    let maxActive: Int
    let tick: Duration
    private var carry: Double = 0
    private var lastTick: ContinuousClock.Instant?

    init(admitPerSecond: Double, maxActive: Int, tick: Duration) {
        self.admitPerSecond = admitPerSecond
        self.maxActive = maxActive
        self.tick = tick
    }

    /// The most this tick may admit, given the number of tokens active now.
    mutating func allowance(at now: ContinuousClock.Instant, active: Int) -> Int {
        // A late tick (a busy machine) still admits for the time that passed, up to 2 s or two ticks.
        let elapsed = lastTick.map { min(now - $0, max(tick * 2, .seconds(2))) } ?? tick
        lastTick = now
        carry += admitPerSecond * elapsed.secondsValue
        let room = max(0, maxActive - active)
        return min(Int(carry.rounded(.down)), room)
    }

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
