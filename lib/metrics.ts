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
  /** Times the listening connection was lost and then connected again (one per outage, however many attempts it took). */
  readonly reconnects: number
  /** Connection attempts made after a loss or a failed attempt (each `reconnecting` state). */
  readonly reconnectAttempts: number
  /**
   * Outages of the sending connection (the one notify() and notify$ send on) that ended: sends could not get a
   * connection (none could be opened, or it broke before a batch was handed to it), until a batch committed
   * again. One per outage, however many attempts it took. A connection lost while nothing was being sent is
   * replaced on the next send unseen, and a batch sent again after it reached a connection is no outage.
   */
  readonly sendReconnects: number
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

/** @internal The counts that the listener's parts keep themselves, read at each snapshot. */
export interface LiveCounts {
  readonly received: number
  readonly sent: number
  readonly sendFailures: number
  readonly sendReconnects: number
  readonly queueDepth: number
}

/** @internal The counters behind `ListenerMetrics`: what is recorded here, plus the parts' own counts. */
export class MetricsCounters implements ListenerMetrics {
  decodeFailures = 0
  dropped = 0
  reconnects = 0
  reconnectAttempts = 0

  constructor(private readonly live: () => LiveCounts) {}

  recordDecodeFailure(count = 1): void {
    this.decodeFailures += count
  }

  recordDropped(count = 1): void {
    this.dropped += count
  }

  snapshot(): MetricsSnapshot {
    return {
      ...this.live(),
      decodeFailures: this.decodeFailures,
      reconnects: this.reconnects,
      reconnectAttempts: this.reconnectAttempts,
      dropped: this.dropped,
    }
  }
}
