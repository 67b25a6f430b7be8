/**
 * @internal Samples the snapshot horizon while readers or consumers run, and reports stalls (detect-stalls.ts)
 * with the holder named from pg_stat_activity / pg_prepared_xacts. Nothing subscribes to `stalls$`? Then each
 * stall is a process warning, so a held horizon is never a silent wait.
 */
import { EMPTY, defer, exhaustMap, finalize, from, interval, map, share, takeUntil, type Observable, type Subscription } from 'rxjs'
import { quoteLiteral } from '../identifiers.js'
import { detectStalls } from './detect-stalls.js'
import type { LogContext } from './log-context.js'
import type { DurableStall, HorizonHolder } from './types.js'

const XID_MODULUS = 2n ** 32n

export class StallMonitor {
  readonly stalls$: Observable<DurableStall>
  private readonly source$: Observable<DurableStall>
  private watchers = 0
  private active = 0
  private internal: Subscription | undefined

  constructor(private readonly context: LogContext) {
    const settings = context.resolved.stall
    this.source$ = settings
      ? interval(settings.interval, context.scheduler).pipe(
          exhaustMap(() =>
            from(context.query<{ xmin: string; running: boolean; in_progress: string | null }>('stall check', context.queries.horizonSample, []).catch(() => [])).pipe(
              map((rows) => rows[0]),
            ),
          ),
          exhaustMap((row) => (row === undefined ? [] : [{ xmin: BigInt(row.xmin), running: row.running, inProgress: row.in_progress?.split(',').map(BigInt) ?? [] }])),
          detectStalls(settings.threshold, context.scheduler, (xid) => this.holderOf(xid)),
          // Completes with the log: a subscriber that never unsubscribes must not keep the timer (and the process) alive.
          takeUntil(context.closed$),
          share(),
        )
      : from([])
    this.stalls$ = defer(() => {
      if (context.closed) return EMPTY
      this.watchers++
      return this.source$.pipe(finalize(() => this.watchers--))
    })
  }

  /** A reader or consumer started: sample while any runs. */
  begin(): void {
    if (this.active++ > 0 || !this.context.resolved.stall) return
    this.internal = this.source$.subscribe((event) => {
      if (this.watchers === 0 && event.kind === 'stalled') {
        const who = event.holder?.pid != null ? `backend pid ${event.holder.pid}` : event.holder?.preparedGid != null ? `prepared transaction ${event.holder.preparedGid}` : 'an unknown session'
        // How to end it: what the on-call needs next, beside what it is.
        const remedy =
          event.holder?.pid != null
            ? ` To end it: SELECT pg_terminate_backend(${event.holder.pid}); to bound such transactions, idle_in_transaction_session_timeout.`
            : event.holder?.preparedGid != null
              ? ` To end it: COMMIT PREPARED or ROLLBACK PREPARED ${quoteLiteral(event.holder.preparedGid)}.`
              : ''
        process.emitWarning(
          `rxpg durable log ${JSON.stringify(this.context.schema)}: transaction ${event.xid} (${who}) has held the snapshot horizon back for ${event.heldFor} ms; readers and consumers wait for it to end.${remedy} Subscribe to log.stalls$ to handle this yourself.`,
          { code: 'RXPG_DURABLE_STALL' },
        )
      }
    })
  }

  end(): void {
    if (--this.active > 0) return
    this.internal?.unsubscribe()
    this.internal = undefined
  }

  private async holderOf(xid: bigint): Promise<HorizonHolder | null> {
    const rows = await this.context
      .query<{ pid: number | null; gid: string | null; state: string | null; since_ms: number | string | null; user_name: string | null; database: string | null; application_name: string | null }>(
        'stall check',
        this.context.queries.horizonHolder,
        [(xid % XID_MODULUS).toString()],
      )
      .catch(() => [])
    const row = rows[0]
    if (row === undefined) return null
    return {
      pid: row.pid,
      preparedGid: row.gid,
      state: row.state,
      // A float8 (pg parses it as a number, unless the application set a parser of its own for float8).
      since: row.since_ms === null ? null : new Date(Number(row.since_ms)),
      user: row.user_name,
      database: row.database,
      applicationName: row.application_name,
    }
  }
}
