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

/**
 * The longest wait between two reads of a reader held back. The wait after the older transaction ends is up to
 * the last wait: doubling up to `pollInterval` alone, a reader with a long one found the message about as long
 * after the end as the transaction had held it (a trial: 8.5 s after a 12 s hold, with a 60 s poll).
 */
export const HELD_BACK_LONGEST_WAIT = 1000

/**
 * When a log's readers held back read again: first after `wakeWindow` (at least 1 ms), then doubling, at most
 * every `HELD_BACK_LONGEST_WAIT` ms, or `pollInterval` when shorter (the poll reads anyway).
 */
export function heldBackRereads(context: Pick<LogContext, 'resolved' | 'scheduler'>): OperatorFunction<boolean, void> {
  const { wakeWindow, pollInterval } = context.resolved
  return rereadWhileHeld(Math.max(1, wakeWindow), Math.min(pollInterval, HELD_BACK_LONGEST_WAIT), context.scheduler)
}
