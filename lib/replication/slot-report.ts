/**
 * Reporting acknowledgements while no session streams (the last subscriber left, the stream is reconnecting or
 * failed, or it is closing): no status update can carry them, so a short session does. It opens and checks the
 * slot as any session does, starts replication at the position to confirm (so the server has nothing older to
 * send), sends one status update asking for an answer, and ends once the server answered: a WAL sender queues
 * the answer in the same step as it moves the slot to the update's position. A keepalive the server sent of its
 * own just before it read the update passes for the answer too; the update still comes before the Terminate
 * that ends the session, and the WAL sender reads them in order.
 *
 * Through the same port as the stream's sessions, so it runs on a drawn server in virtual time, and needs no
 * right the stream does not already have.
 */
import { Observable, Subscription, defer, retry, throwError, timeout, timer, type SchedulerLike } from 'rxjs'
import { backoffDelay, type BackoffOptions } from '../backoff.js'
import { ConnectionLostError } from '../errors.js'
import { InvalidReplicationTokenError, SlotInUseError } from './errors.js'
import { maxLsn, type Lsn } from './lsn.js'
import type { ReplicationSession, ReplicationSource } from './ports.js'
import { planStart, type StartRequest } from './start-plan.js'
import type { ReplicationFailure } from './types.js'

export interface SlotReportOptions {
  readonly source: ReplicationSource
  readonly scheduler: SchedulerLike
  /** Between attempts after a transient failure (the server down, the slot held by another process). */
  readonly backoff: BackoffOptions
  /** The whole report, attempts and back-off included, may take this long, in ms. */
  readonly within: number
  readonly request: Omit<StartRequest, 'resume'>
  readonly classify: (error: unknown) => ReplicationFailure | ConnectionLostError
  /** The tag of the stream's slot: a slot of that name on another server or database is not the one to move. */
  readonly tag: string
  /** The last acknowledged position's token, named by an error about it. */
  readonly token: string
  /** A session is about to start replication (its WAL sender will hold the slot for a moment): the stream's own. */
  readonly starting: (session: ReplicationSession) => void
  /** A status update went out. */
  readonly sent: () => void
  /** A session ends; resolves once its connection is closed. */
  readonly ending: (ended: Promise<void>) => void
}

/** What a report found: where the slot is now, and the server's WAL position. */
export interface SlotReport {
  readonly confirmed: Lsn
  readonly serverLsn: Lsn
}

/**
 * Reports `flushed` (and `written`, what the stream has received) to the slot. Emits once the slot has it (or
 * had more already: another consumer moved it), then completes. Transient failures are retried with back-off
 * until `within` runs out; it then errors with the last failure, or with `ConnectionLostError` (`ETIMEDOUT`)
 * when an attempt is still waiting for the server. A failure retrying cannot fix errors at once.
 * Unsubscribing ends the session in progress.
 */
export function reportToSlot(target: { readonly flushed: Lsn; readonly written: Lsn }, options: SlotReportOptions): Observable<SlotReport> {
  const { scheduler, within, backoff } = options
  // The failure the report is waiting out (in back-off), if it is not in the middle of an attempt.
  let waitingOut: ReplicationFailure | ConnectionLostError | undefined
  return defer(() => {
    waitingOut = undefined
    return attempt(target, options)
  }).pipe(
    retry({
      delay: (error: unknown, count) => {
        const failure = options.classify(error)
        if (!(failure instanceof ConnectionLostError) && !(failure instanceof SlotInUseError)) return throwError(() => failure)
        waitingOut = failure
        return timer(backoffDelay(count, backoff), scheduler)
      },
    }),
    timeout({
      first: within,
      scheduler,
      with: () => throwError(() => waitingOut ?? new ConnectionLostError({ systemCode: 'ETIMEDOUT', detail: `the server did not confirm the acknowledged position within ${within} ms` })),
    }),
  )
}

function attempt(target: { readonly flushed: Lsn; readonly written: Lsn }, options: SlotReportOptions): Observable<SlotReport> {
  return new Observable<SlotReport>((subscriber) => {
    const run = new Subscription()
    let session: ReplicationSession | undefined
    run.add(
      options.source.connect(() => options.scheduler.now()).subscribe({
        next: (opened) => {
          session = opened
          const plan = planStart(opened.facts, { ...options.request, resume: undefined })
          if (!('tag' in plan)) return subscriber.error(plan)
          if (plan.tag !== options.tag) {
            return subscriber.error(
              new InvalidReplicationTokenError({ token: options.token, reason: 'other-slot', detail: `slot ${options.request.slot} of this server is not the one that delivered it (another server, or a database restored elsewhere or renamed), so it is not moved` }),
            )
          }
          const serverLsn = opened.facts.currentLsn
          // Already there, or past it: nothing to tell.
          if (plan.floor >= target.flushed) {
            subscriber.next({ confirmed: plan.floor, serverLsn })
            return subscriber.complete()
          }
          let sent = false
          options.starting(opened)
          run.add(
            opened.start(target.flushed).subscribe({
              next: (message) => {
                if (message.kind === 'started' && !sent) {
                  sent = true
                  opened.sendStatus({ written: target.written, flushed: target.flushed, replyRequested: true })
                  options.sent()
                } else if (sent && message.kind === 'keepalive') {
                  subscriber.next({ confirmed: target.flushed, serverLsn: maxLsn(serverLsn, message.walEnd) })
                  subscriber.complete()
                }
              },
              error: (error: unknown) => subscriber.error(error),
              complete: () => subscriber.error(new ConnectionLostError({ detail: 'the replication stream ended' })),
            }),
          )
        },
        error: (error: unknown) => subscriber.error(error),
      }),
    )
    return () => {
      // The session's own end first: it lets a status update written just before leave.
      if (session !== undefined) options.ending(session.end())
      run.unsubscribe()
    }
  })
}
