import { concatMap, defaultIfEmpty, from, map, Observable, of, take, type ObservableInput, type OperatorFunction, type SchedulerLike } from 'rxjs'

/** A sample of the snapshot horizon: its transaction id (xmin), and whether that transaction is running (holding it back). */
export interface HorizonSample {
  readonly xmin: bigint
  readonly running: boolean
  /**
   * Every transaction id in progress at the sample (the snapshot's xip), when known: a transaction is timed from
   * the first sample that saw it running, so one that takes the horizon over after running long is a stall at once.
   */
  readonly inProgress?: readonly bigint[] | undefined
}

/** A stall (the horizon held at one transaction for longer than the threshold), and its end. */
export type StallEvent<Holder> =
  | {
      readonly kind: 'stalled'
      /** The transaction holding the horizon back (64-bit, as txid_current() shows it). */
      readonly xid: string
      /** When it was first seen running (scheduler clock): what it holds back since, at the horizon or behind an older one. */
      readonly since: number
      /** How long it had run, holding readers back, when reported, in ms. */
      readonly heldFor: number
      /** Who runs it, when that could be found. */
      readonly holder: Holder | null
    }
  | { readonly kind: 'cleared'; readonly xid: string; readonly since: number; readonly heldFor: number }

/**
 * Turns horizon samples into stall events: `stalled` once the transaction at the horizon has been running for
 * `threshold` ms (timed from the first sample that saw it in progress: at the horizon, or behind an older one
 * in `inProgress`), then `cleared` when the horizon moves past it or that transaction ends. A second long
 * transaction that takes the horizon over is reported in the same sample as the first one's end: the readers
 * were never free. A horizon whose transaction is not running (an idle cluster, where the horizon is simply
 * the next id) is never a stall. `lookup` names the holder of a stalled xid (a query of pg_stat_activity in the log).
 *
 * Readers only see rows of transactions below the horizon, so a transaction that holds an xid for a long time,
 * anywhere in the cluster, delays every reader by as long: this makes it visible instead of a silent wait.
 */
export function detectStalls<Holder>(
  threshold: number,
  scheduler: SchedulerLike,
  lookup: (xid: bigint) => ObservableInput<Holder | null>,
): OperatorFunction<HorizonSample, StallEvent<Holder>> {
  return (samples) =>
    new Observable<{ event: StallEvent<Holder>; xid: bigint }>((subscriber) => {
      let held: { xmin: bigint; since: number; reported: boolean } | undefined
      /** When each transaction in progress was first seen so; forgotten once a sample no longer has it. */
      let firstSeen = new Map<bigint, number>()
      const clear = (now: number) => {
        if (held?.reported) subscriber.next({ xid: held.xmin, event: { kind: 'cleared', xid: held.xmin.toString(), since: held.since, heldFor: now - held.since } })
        held = undefined
      }
      return samples.subscribe({
        next: (sample) => {
          const now = scheduler.now()
          const seen = new Map<bigint, number>()
          for (const xid of [...(sample.running ? [sample.xmin] : []), ...(sample.inProgress ?? [])]) seen.set(xid, firstSeen.get(xid) ?? now)
          firstSeen = seen
          if (!sample.running) return clear(now)
          if (held === undefined || held.xmin !== sample.xmin) {
            clear(now)
            held = { xmin: sample.xmin, since: seen.get(sample.xmin) ?? now, reported: false }
          }
          if (!held.reported && now - held.since >= threshold) {
            held.reported = true
            subscriber.next({ xid: held.xmin, event: { kind: 'stalled', xid: held.xmin.toString(), since: held.since, heldFor: now - held.since, holder: null } })
          }
        },
        error: (error: unknown) => subscriber.error(error),
        complete: () => subscriber.complete(),
      })
    }).pipe(
      concatMap(({ event, xid }) =>
        event.kind === 'stalled' ? from(lookup(xid)).pipe(take(1), defaultIfEmpty(null), map((holder): StallEvent<Holder> => ({ ...event, holder }))) : of(event),
      ),
    )
}
