import Logging

/// A yielding replay's lag watch: reads the live group's lag every `interval`, runs it
/// through `LiveLagHysteresis`, and closes or opens the intake's `ReplayYieldGate`.
/// Made (with the start-up reading applied) before intake starts, so a replay started while
/// the live group is behind takes nothing; its task is cancelled and joined before the lag
/// consumer closes (no librdkafka call outlives it).
struct LiveYieldWatcher: Sendable {
    let lag: LiveGroupLag
    let settings: LiveYield
    let gate: ReplayYieldGate
    let metrics: ReplayYieldMetrics
    let logger: Logger
    private var machine: LiveLagHysteresis
    /// The lag came down but the pause is younger than its minimum (`ReplayResumePacing`): the
    /// reason to give when a later reading opens the gate, unless the lag rises again first.
    private var pendingResume: String?

    /// Nil when the settings' marks are no hysteresis (`WorkerConfiguration.validate` refuses them).
    init?(lag: LiveGroupLag, settings: LiveYield, gate: ReplayYieldGate, metrics: ReplayYieldMetrics, logger: Logger) {
        guard let machine = settings.hysteresis() else { return nil }
        self.lag = lag
        self.settings = settings
        self.gate = gate
        self.metrics = metrics
        self.logger = logger
        self.machine = machine
        apply(lag.initial.lag)
    }

    func run() async {
        var watcher = self
        let timeout = max(min(settings.interval * 5, .seconds(10)), .seconds(1))
        while !Task.isCancelled {
            try? await Task.sleep(for: settings.interval)
            guard !Task.isCancelled else { break }
            do {
                watcher.apply(try await lag.read(timeout: timeout).lag)
            } catch {
                watcher.machine.observeFailure()
                gate.noteLag(nil)
                let failures = watcher.machine.failedReadings
                if failures == 1 || failures % 30 == 0 {
                    logger.warning(
                        "live group lag unreadable; replay stays \(watcher.machine.state == .yielding ? "paused" : "running")",
                        metadata: ["group": "\(settings.group)", "error": "\(error)", "failures": "\(failures)"])
                }
            }
            metrics.pausedSeconds.set(gate.status.pausedSeconds)
        }
    }

    private mutating func apply(_ lag: Int64) {
        gate.noteLag(lag)
        metrics.liveLag.set(Double(lag))
        switch machine.observe(lag: lag) {
        case .pause(let lag):
            if pendingResume != nil {
                // Still inside the minimum pause: the gate never opened, the same pause goes on.
                pendingResume = nil
                return
            }
            let reason = "live group \(settings.group) lag \(lag) > \(machine.pauseAbove)"
            gate.close(reason: reason)
            metrics.yielding.set(1.0)
            metrics.pauses.increment()
            logger.notice("replay paused: \(reason)")
        case .resume(let lag):
            resume("live group \(settings.group) lag \(lag) <= \(machine.resumeAtOrBelow)")
        case nil:
            if let pendingResume, machine.state == .running { resume(pendingResume) }
        }
    }

    /// Opens the gate once the pause has lasted its minimum; until then remembers why.
    private mutating func resume(_ reason: String) {
        guard gate.mayResume() else {
            pendingResume = reason
            return
        }
        pendingResume = nil
        let ramp = gate.pacing.ramp > .zero ? " (batches spaced for \(gate.pacing.ramp))" : ""
        gate.open(reason: reason + ramp)
        metrics.yielding.set(0.0)
        logger.notice("replay resumed: \(reason)\(ramp)")
    }
}
