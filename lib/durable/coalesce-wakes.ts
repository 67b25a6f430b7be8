import { groupBy, mergeMap, throttleTime, type OperatorFunction, type SchedulerLike } from 'rxjs'

/**
 * Coalesces wake-ups per channel: the first one of a quiet channel passes at once, then at most one more per
 * `window` ms (the trailing one, so a commit inside the window is never left without a wake-up).
 *
 * Why: every transaction that NOTIFYs takes a cluster-wide lock at commit, so waking readers once per append
 * would cap writers at the NOTIFY ceiling. Coalesced, the wake-ups cost at most 1000 / window NOTIFYs per
 * channel per second whatever the append rate, and add at most `window` ms of latency under load.
 */
export function coalesceWakes(window: number, scheduler: SchedulerLike): OperatorFunction<string, string> {
  return (channels) =>
    channels.pipe(
      groupBy((channel) => channel),
      mergeMap((sameChannel) => sameChannel.pipe(throttleTime(window, scheduler, { leading: true, trailing: true }))),
    )
}
