import type { SchedulerAction, SchedulerLike, Subscription } from 'rxjs'
import { isTimerMs, MAX_TIMER_MS } from '../timer-limit.js'

/**
 * @internal Calls `onSilence` each time `period` ms pass without `touch()`; used by `heartbeat` and
 * `idleTimeout`.
 *
 * The timer is lazy: `touch()` only stores the time (no timer is cancelled or created per value, so a busy
 * channel costs one `now()` call per notification). When the timer fires early because values came in the
 * meantime, it re-arms itself for the rest of the period.
 */
export class SilenceTimer {
  /** Time of the last value, or of the start. */
  private last: number
  /** Time of the last silence reported in the current quiet spell (the next is due a period after it). */
  private reported = -Infinity
  private readonly action: Subscription
  private stopped = false

  constructor(
    private readonly scheduler: SchedulerLike,
    private readonly period: number,
    private readonly onSilence: (silentSince: number, now: number) => void,
  ) {
    this.last = scheduler.now()
    this.action = scheduler.schedule(check, period, this)
  }

  /** Restarts the quiet period; returns the time it read, so callers need not read the clock again. */
  touch(): number {
    return (this.last = this.scheduler.now())
  }

  stop(): void {
    this.stopped = true
    this.action.unsubscribe()
  }

  /** @internal */
  fire(action: SchedulerAction<SilenceTimer>): void {
    if (this.stopped) return
    const now = this.scheduler.now()
    const quiet = now - Math.max(this.last, this.reported)
    if (quiet < this.period) {
      action.schedule(this, this.period - quiet)
      return
    }
    this.reported = now
    this.onSilence(this.last, now)
    if (!this.stopped) action.schedule(this, this.period)
  }
}

function check(this: SchedulerAction<SilenceTimer>, timer?: SilenceTimer): void {
  timer?.fire(this)
}

/** @internal Refuses a period that would never fire or would fire in a loop. */
export function assertPeriod(operator: string, period: number): void {
  if (!isTimerMs(period, true)) {
    throw new RangeError(`rxpg: ${operator} needs a period in ms that is a positive number, at most ${MAX_TIMER_MS} (about 24.8 days); got ${String(period)}`)
  }
}
