/** Counters of one listener since it was created. */
export interface MetricsSnapshot {
  /** Notifications received on the listening connection (for any channel with subscribers). */
  readonly received: number
  /** Notifications committed by the notify$ sink. */
  readonly sent: number
  /** Notifications the sink refused or could not send (each one also reported as an error). */
  readonly sendFailures: number
  /** Payloads that failed to decode in operators given this listener's `metrics`. */
  readonly decodeFailures: number
  /** Connections lost (or attempts failed) after which the listener reconnected. */
  readonly reconnects: number
  /** Notifications waiting in the send queue right now. */
  readonly queueDepth: number
  /** Notifications dropped by bounded buffers given this listener's `metrics`. */
  readonly dropped: number
}

/** What operators report into, so their failures and drops show in the listener's counters. */
export interface MetricsRecorder {
  recordDecodeFailure(count?: number): void
  recordDropped(count?: number): void
}

/** A listener's counters: operators record into it; `snapshot()` reads them (poll it with `interval` to watch). */
export interface ListenerMetrics extends MetricsRecorder {
  snapshot(): MetricsSnapshot
}

/** @internal The mutable counters behind `ListenerMetrics`. */
export class MetricsCounters implements ListenerMetrics {
  received = 0
  sent = 0
  sendFailures = 0
  decodeFailures = 0
  reconnects = 0
  dropped = 0

  constructor(private readonly queueDepth: () => number) {}

  recordDecodeFailure(count = 1): void {
    this.decodeFailures += count
  }

  recordDropped(count = 1): void {
    this.dropped += count
  }

  snapshot(): MetricsSnapshot {
    return {
      received: this.received,
      sent: this.sent,
      sendFailures: this.sendFailures,
      decodeFailures: this.decodeFailures,
      reconnects: this.reconnects,
      queueDepth: this.queueDepth(),
      dropped: this.dropped,
    }
  }
}
