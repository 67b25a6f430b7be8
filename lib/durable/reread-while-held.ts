import { EMPTY, map, scan, switchMap, timer, type OperatorFunction, type SchedulerLike } from 'rxjs'
import type { LogContext } from './log-context.js'

/**
 * Takes, after each read of a channel, whether it found messages committed past the snapshot horizon (readable
 * once the older transactions that hold it end), and emits when to read again: `first` ms after a read that
 * found some, then twice as long after each read that still does, up to `max`; nothing after a read that found
 * none. A later read replaces the wait the one before it set.
 *
 * Why: the commit of such a message woke its readers already, and the transactions holding the horizon may end
 * without waking anyone (they may have appended nothing, or not through rxpg, or be of another application on
 * the same server). Without it a reader found the message at its next poll, a `pollInterval` later.
 */
export function rereadWhileHeld(first: number, max: number, scheduler: SchedulerLike): OperatorFunction<boolean, void> {
  return (held) =>
    held.pipe(
      scan((delay, pending) => (pending ? (delay === 0 ? first : Math.min(delay * 2, max)) : 0), 0),
      switchMap((delay) => (delay === 0 ? EMPTY : timer(delay, scheduler))),
      map(() => undefined),
    )
}

/** A log's readers read again first after `wakeWindow` (at least 1 ms), at most every `pollInterval`. */
export function heldBackRereads(context: LogContext): OperatorFunction<boolean, void> {
  return rereadWhileHeld(Math.max(1, context.resolved.wakeWindow), context.resolved.pollInterval, context.scheduler)
}
