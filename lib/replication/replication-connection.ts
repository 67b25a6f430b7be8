import { BehaviorSubject, EMPTY, Subscription, catchError, exhaustMap, interval, map, take, throwError, timeout, type Observable, type SchedulerLike } from 'rxjs'
import { backoffDelay, type BackoffOptions } from '../backoff.js'
import { ConnectionLostError } from '../errors.js'
import type { AckLedger } from './ack-ledger.js'
import type { ChangeAssembler, DeliveredPosition, ItemSink, PassedRefusal } from './change-assembler.js'
import { AcknowledgementsNotReportedError, ChangeDecodeError, ReplicationStreamClosedError, SlotInUseError } from './errors.js'
import { formatLsn, lsnDistance, maxLsn, ZERO_LSN, type Lsn } from './lsn.js'
import type { BeginMessage, ReplicationMessage, ReplicationSession, ReplicationSource, StartedMessage } from './ports.js'
import { encodeToken, type Position } from './position.js'
import { reportToSlot } from './slot-report.js'
import { planStart, publicationRefusal, type StartRequest } from './start-plan.js'
import type { ReplicationFailure, ReplicationMetricsSnapshot, ReplicationState } from './types.js'

/** A status update goes out at least this often, changed or not: well inside the server's wal_sender_timeout (60 s). */
export const STATUS_KEEPALIVE_MS = 10_000

/**
 * A server that asks for status updates for this many status intervals in a row, sending nothing else, is
 * waiting for confirmation of all it sent: it is shutting down (a WAL sender exits only once the client has
 * confirmed everything).
 */
const SERVER_WAIT_LIMIT_INTERVALS = 3

/**
 * Between ticks, a checkpoint is delivered, and an acknowledgement reported, as soon as it moves the position
 * by this many bytes of WAL: so what the slot holds beyond what is acknowledged stays near this bound however
 * fast the server writes (with one report per tick it would grow with the WAL rate).
 */
export const PROMPT_REPORT_BYTES = 1_000_000
const PROMPT_REPORT_LSN = BigInt(PROMPT_REPORT_BYTES)

export interface ReplicationConnectionOptions {
  readonly scheduler: SchedulerLike
  readonly backoff: BackoffOptions
  /** Opening a session, or starting replication on it, longer than this fails; a report of acknowledgements as a whole, too. */
  readonly connectTimeout: number
  /** How often positions are reported to the server (when they changed), checkpoints delivered, liveness checked, in ms. */
  readonly statusInterval: number
  readonly healthCheck: { readonly interval: number; readonly timeout: number } | false
  /** How long a slot held by another process is waited for (retrying with back-off) before failing, in ms. */
  readonly slotInUseTimeout: number
  /** Reading pauses while this many delivered items are unacknowledged. */
  readonly maxUnacknowledged: number
  /** While `behind` ms or more behind the server, reading waits `window` ms each time the socket is read dry. */
  readonly gatherReads: { readonly behind: number; readonly window: number } | false
  readonly checkpoints: boolean
  /** How often a streaming session checks the publication again (`source.publication()`), in ms; false: never. */
  readonly recheckInterval: number | false
  readonly classify: (error: unknown) => ReplicationFailure | ConnectionLostError
  readonly request: Omit<StartRequest, 'resume'>
  /** The resume token's tag, when the stream was started after one. */
  readonly resumeTag: string | undefined
  /**
   * `until: 'now'`: the server's WAL position when the first session opens is the stream's end; `caughtUp` is
   * called once every transaction committed before it has been handed on, and the connection goes idle.
   */
  readonly until: { readonly caughtUp: () => void } | undefined
}

/** An open session and everything that runs on it; unsubscribing `run` stops all of it. */
interface LiveSession {
  readonly session: ReplicationSession
  readonly run: Subscription
  startLsn: Lsn
  /** What the assembler delivers through while this session streams (sinkFor), made once: it takes every change. */
  sink?: ItemSink | undefined
}

/**
 * Where the connection is. `opening` (connect and read the server's facts) and `starting` (START_REPLICATION
 * sent) are `connecting` on `state$`; `streaming` is `connected`; `waiting` is `reconnecting`.
 */
type Phase =
  | { readonly name: 'idle' }
  | { readonly name: 'opening'; readonly run: Subscription }
  | { readonly name: 'starting'; readonly live: LiveSession }
  | { readonly name: 'streaming'; readonly live: LiveSession }
  | { readonly name: 'waiting'; readonly timer: Subscription }
  | { readonly name: 'failed'; readonly error: ReplicationFailure }
  | { readonly name: 'closed' }

type LivePhase = Extract<Phase, { readonly live: LiveSession }>

/**
 * The replication connection's life:
 *
 * ```text
 * idle → opening → starting → streaming ─┐
 *          ↑  (a transient failure)      │
 *          └──────── waiting ←───────────┘        failed and closed are terminal; idle again when nobody subscribes
 * ```
 *
 * While streaming it feeds the server's messages to the assembler, hands what it delivers to `deliver`,
 * records it in the ledger, pauses reading while too much is unacknowledged, and on every `statusInterval`
 * tick delivers a checkpoint when due, checks the server is alive, and reports positions when they changed.
 * Acknowledgements made while no session streams go to the slot on a short session of their own
 * (slot-report.ts): `statusInterval` after one made while idle or failed, and at `close()`.
 */
export class ReplicationConnection {
  private phase: Phase = { name: 'idle' }
  private retries = 0
  private retryAtOnce = false
  /** When the slot was first found held by another process in this outage. */
  private busySince: number | undefined
  /** The WAL senders (backend process ids) of the sessions this stream opened: a slot one of them holds is its own. */
  private readonly ownProcessIds = new Set<number>()
  /** Reading is paused because `maxUnacknowledged` items are unacknowledged. */
  private paused = false
  /**
   * Items parsed after reading paused, from what the socket had already given (one read carries hundreds of
   * changes): they wait here, not at the consumer, until acknowledgements make room, so `maxUnacknowledged`
   * bounds what the consumer holds. Dropped if the session ends: the next one sends them again. A refused change
   * for `onInvalid` waits here in its place too (behind the items before it), but takes no room: it goes to
   * `onInvalid` as soon as what is before it has been handed on.
   */
  private held: Array<{ readonly item: Parameters<ItemSink>[0]; readonly position: DeliveredPosition; readonly before: readonly PassedRefusal[] | undefined }> = []
  /** The position of the last item handed on (or, before any, where the stream stood): where the next session resumes if what waits is dropped. */
  private heldAfter: Position | undefined
  private releasing = false
  /**
   * A row the table's decoder refused, behind items that wait for room: the stream fails once they are handed
   * on (it ends after what came before the refused row), and takes nothing more from this session meanwhile.
   */
  private refusedBehindHeld: ReplicationFailure | undefined
  /** Reading is paused (or about to be) for a gathering window, which resumes it when it ends. */
  private gathering: Subscription | undefined
  /** The transaction being received was sent `gatherReads.behind` ms or more after its commit. */
  private behind = false
  /** What the server has sent: the `written` position of status updates. */
  private received: Lsn = ZERO_LSN
  private serverLsn: Lsn = ZERO_LSN
  /** The flush position the slot has: its own when a session opens, then what status updates reported. */
  private confirmed: Lsn = ZERO_LSN
  /** Acknowledgements moved the flush position past what the slot was told: a status update or a report is owed. */
  private unreported = false
  /** A report of acknowledgements made while no session is open: due (a timer), or running. */
  private idleReport: Subscription | undefined
  /** The outcome of close(), which every call gets. */
  private closing: Promise<void> | undefined
  /** The last status update sent; `promptAt`: a flush position this far past it is reported at once (ack). */
  private lastStatus: { written: Lsn; flushed: Lsn; at: number; promptAt: Lsn } | undefined
  private pingSentAt: number | undefined
  /** When we last answered the server's request for a status update. */
  private answeredAt: number | undefined
  /** The server asked for a status update that has not been sent yet (answers are limited to one per interval). */
  private answerOwed = false
  /** When the server last asked for a status update, with nothing else from it since. */
  private lastAskAt: number | undefined
  /** Since when the server has been asking again and again for status updates, sending nothing else. */
  private serverWaitingSince: number | undefined
  /** The tag of the stream's slot on its server, known from the first session (or the resume token). */
  private tag: string | undefined
  private readonly counts = { received: 0, transactions: 0, delivered: 0, reconnects: 0, reconnectAttempts: 0, statusUpdates: 0, decodeFailures: 0, gatheredReads: 0 }
  private connectedBefore = false
  /** `until`: the end (the first session's WAL position), once a session has opened. */
  private end: Lsn | undefined
  /** `until`: how far this session's server has decoded, by its keepalives and commits (past it, nothing before it is owed). */
  private decodedTo: Lsn = ZERO_LSN
  /** `until`: the end is reached; the stream completes once what waits for acknowledgements is handed on. */
  private reachedEnd = false
  private readonly state = new BehaviorSubject<ReplicationState>({ status: 'idle' })

  /** The connection's life, replaying the current state; completes on `close()`. */
  readonly states$: Observable<ReplicationState> = this.state.asObservable()

  constructor(
    private readonly source: ReplicationSource,
    private readonly assembler: ChangeAssembler,
    private readonly ledger: AckLedger,
    /** Called with every item delivered, and every refused change for `onInvalid` (its `ChangeDecodeError`), in stream order. */
    private readonly deliver: (item: Parameters<ItemSink>[0]) => void,
    private readonly options: ReplicationConnectionOptions,
  ) {
    this.tag = options.resumeTag
  }

  /** The first subscriber arrived: connect (from idle). Its session reports what acknowledgements are owed. */
  want(): void {
    if (this.phase.name !== 'idle') return
    this.cancelIdleReport()
    this.open()
  }

  /** The last subscriber left: report positions, end the session, go idle. */
  unwant(): void {
    const phase = this.phase.name
    if (phase === 'idle' || phase === 'failed' || phase === 'closed') return
    void this.enter({ name: 'idle' })
    // A later subscriber starts a fresh attempt count, not the tail of an outage nobody waits for any more.
    this.retries = 0
    this.retryAtOnce = false
    this.busySince = undefined
    this.state.next({ status: 'idle' })
    this.reportWhileIdle()
  }

  /** Acknowledges a delivered position (and everything before it); reading resumes if it was paused. */
  ack(token: string): void {
    // Nothing would report it: say so rather than count it as acknowledged.
    if (this.phase.name === 'closed') throw new ReplicationStreamClosedError({ operation: 'ack', position: token })
    const before = this.ledger.flushLsn
    this.ledger.ack(token)
    if (this.ledger.flushLsn > before && this.ledger.flushLsn > this.confirmed) this.unreported = true
    this.reportWhileIdle()
    const phase = this.phase
    // An acknowledgement that moves the slot far is reported at once; the others wait for the tick.
    const promptAt = this.lastStatus?.promptAt
    if (phase.name === 'streaming' && promptAt !== undefined && this.ledger.flushLsn >= promptAt) {
      this.sendStatus(phase.live, { force: false, requestReply: false })
    }
    if (this.paused && this.ledger.pending < this.options.maxUnacknowledged && phase.name === 'streaming') this.release(phase.live)
  }

  /** Hands on held items while there is room; reading resumes once none is left and there is still room. */
  private release(live: LiveSession): void {
    // An acknowledgement made by a subscriber while it receives a released item: the loop below goes on.
    if (this.releasing) return
    this.releasing = true
    try {
      while (this.held.length > 0 && (this.ledger.pending < this.options.maxUnacknowledged || isRefusal(this.held[0]?.item)) && this.isStreaming(live)) {
        // Out of the queue and marked handed on first: a session that ends during the delivery (a subscriber
        // leaving) rewinds to just after it, never before it.
        const { item, position, before } = this.held.shift() as (typeof this.held)[number]
        this.heldAfter = position
        this.handOver(item, position, before)
      }
    } finally {
      this.releasing = false
    }
    const refused = this.refusedBehindHeld
    if (this.held.length === 0 && refused !== undefined && this.isStreaming(live)) {
      this.refusedBehindHeld = undefined
      this.fail(refused)
      return
    }
    // The end reached, and everything before it handed on (a refusal above fails the stream first).
    if (this.held.length === 0 && this.reachedEnd && this.isStreaming(live)) return this.finish()
    if (this.held.length === 0 && this.ledger.pending < this.options.maxUnacknowledged && this.isStreaming(live)) {
      this.paused = false
      this.heldAfter = undefined
      // A gathering window in progress resumes reading when it ends.
      if (this.gathering === undefined) live.session.resume()
    }
  }

  private isStreaming(live: LiveSession): boolean {
    return this.phase.name === 'streaming' && this.phase.live === live
  }

  /**
   * Hands an item to the subscribers, or a refused change to `onInvalid`: its position is passed then (it can be
   * acknowledged from inside `onInvalid`), but it is no delivered item (not in `delivered` nor `unacknowledged`,
   * and it takes no room under `maxUnacknowledged`).
   */
  private handOver(item: Parameters<ItemSink>[0], position: DeliveredPosition, before?: readonly PassedRefusal[]): void {
    if (before !== undefined) for (const refusal of before) this.handOver(refusal.error, refusal.position)
    if (isRefusal(item)) {
      this.ledger.refused(position)
      this.counts.decodeFailures += 1
    } else {
      this.ledger.delivered(position)
      this.counts.delivered += 1
    }
    this.deliver(item)
  }

  /**
   * Ends the session (a streaming one reports its positions first) and every timer. Acknowledgements no status
   * update carried (made while no session streamed) are then reported on a short session, for at most
   * `connectTimeout`: resolves once the server has them, rejects with `AcknowledgementsNotReportedError` if it
   * cannot have them in time. Idempotent: every call gets the same outcome.
   */
  close(): Promise<void> {
    this.closing ??= this.shutDown()
    return this.closing
  }

  private async shutDown(): Promise<void> {
    this.cancelIdleReport()
    const ended = this.enter({ name: 'closed' })
    this.state.next({ status: 'closed' })
    this.state.complete()
    // Started now, not after the session's end: in virtual time, on the frame of close().
    const reported = this.unreported ? this.reportAtClose() : Promise.resolve()
    const [, report] = await Promise.allSettled([ended, reported])
    if (report.status === 'rejected') throw report.reason
  }

  metrics(): ReplicationMetricsSnapshot {
    const confirmed = this.confirmed
    return {
      ...this.counts,
      acknowledged: this.ledger.acknowledgedItems,
      unacknowledged: this.ledger.pending,
      paused: this.paused,
      serverLsn: formatLsn(this.serverLsn),
      acknowledgedLsn: formatLsn(this.ledger.flushLsn),
      confirmedLsn: formatLsn(confirmed),
      lagBytes: lsnDistance(confirmed, this.serverLsn),
    }
  }

  /**
   * Acknowledgements owed while no session is open or being opened (idle, or failed): a short session reports
   * them `statusInterval` later, so that an idle stream does not pin the WAL behind them until the next
   * subscriber or `close()`. Those made meanwhile wait for the next one; one that fails leaves them owed (to the
   * next acknowledgement's report, the next session, or `close()`).
   */
  private reportWhileIdle(): void {
    const phase = this.phase.name
    if (!this.unreported || this.idleReport !== undefined || (phase !== 'idle' && phase !== 'failed')) return
    const report = new Subscription()
    this.idleReport = report
    const done = (again: boolean) => {
      if (this.idleReport !== report) return
      this.idleReport = undefined
      if (again) this.reportWhileIdle()
    }
    report.add(
      this.options.scheduler.schedule(() => {
        report.add(this.report([]).subscribe({ complete: () => done(true), error: () => done(false) }))
      }, this.options.statusInterval),
    )
  }

  private cancelIdleReport(): void {
    const report = this.idleReport
    this.idleReport = undefined
    report?.unsubscribe()
  }

  /** Reports what is owed at close(); settles once the report's sessions are closed. */
  private reportAtClose(): Promise<void> {
    const endings: Array<Promise<void>> = []
    return new Promise<void>((resolve, reject) => {
      this.report(endings).subscribe({
        complete: () => void Promise.all(endings).then(() => resolve()),
        error: (failure: unknown) => {
          const error = this.notReported(failure)
          void Promise.all(endings).then(() => reject(error))
        },
      })
    })
  }

  /** One report of the acknowledged position on a short session (slot-report.ts); `endings` collects its sessions' ends. */
  private report(endings: Array<Promise<void>>): Observable<void> {
    const flushed = this.ledger.flushLsn
    const { scheduler, backoff, connectTimeout, request, classify } = this.options
    return reportToSlot(
      { flushed, written: maxLsn(this.received, flushed) },
      {
        source: this.source,
        scheduler,
        backoff,
        within: connectTimeout,
        request,
        classify,
        tag: this.tag ?? '',
        token: this.acknowledgedToken(),
        starting: (session) => this.ownProcessIds.add(session.processId),
        sent: () => (this.counts.statusUpdates += 1),
        ending: (ended) => endings.push(ended),
      },
    ).pipe(
      map(({ confirmed, serverLsn }) => {
        this.confirmed = confirmed
        this.serverLsn = maxLsn(this.serverLsn, serverLsn)
        // Acknowledgements made while it ran are still owed.
        if (this.ledger.flushLsn <= confirmed) this.unreported = false
      }),
    )
  }

  private acknowledgedToken(): string {
    const position = this.ledger.lastAcknowledged
    return position === undefined ? '' : encodeToken(this.tag ?? '', position)
  }

  private notReported(failure: unknown): AcknowledgementsNotReportedError {
    const cause = failure as { readonly message?: unknown; readonly info?: { readonly detail?: unknown; readonly sqlState?: unknown; readonly systemCode?: unknown } | undefined }
    const info = cause.info ?? {}
    const detail = typeof info.detail === 'string' ? info.detail : String(cause.message ?? failure)
    return new AcknowledgementsNotReportedError(
      {
        slot: this.options.request.slot,
        acknowledgedLsn: formatLsn(this.ledger.flushLsn),
        confirmedLsn: formatLsn(this.confirmed),
        position: this.acknowledgedToken(),
        detail,
        ...(typeof info.sqlState === 'string' ? { sqlState: info.sqlState } : {}),
        ...(typeof info.systemCode === 'string' ? { systemCode: info.systemCode } : {}),
      },
      { cause: failure },
    )
  }

  private open(): void {
    const run = new Subscription()
    void this.enter({ name: 'opening', run })
    this.state.next({ status: 'connecting', attempt: Math.max(1, this.retries) })
    if (!this.isCurrent(run)) return
    const { scheduler, connectTimeout } = this.options
    run.add(
      this.source
        .connect(() => scheduler.now())
        .pipe(timeout({ first: connectTimeout, scheduler, with: () => throwError(() => timedOut(`no connection within ${connectTimeout} ms`)) }))
        .subscribe({
          next: (session) => this.onSession(session, run),
          error: (error: unknown) => this.onFailure(error, run),
        }),
    )
  }

  private onSession(session: ReplicationSession, run: Subscription): void {
    if (!this.isCurrent(run)) return void session.end()
    const live: LiveSession = { session, run, startLsn: ZERO_LSN }
    this.phase = { name: 'starting', live }
    const resume = this.assembler.resumePosition
    const plan = planStart(session.facts, {
      ...this.options.request,
      resume: resume === undefined ? undefined : { position: resume, tag: this.tag ?? '' },
    })
    if (!('tag' in plan)) return this.onFailure(plan, run)
    // The first session of a stream without a resume token learns the tag here.
    if (resume === undefined || this.tag === undefined) this.tag = plan.tag
    this.ledger.tag = plan.tag
    // Never less than the slot has confirmed, and never more than was acknowledged: the floor a session starts
    // from is after what was delivered (a reconnect), which may be past what the user processed and stored.
    this.ledger.raiseFloor(session.facts.slot?.confirmedFlush ?? ZERO_LSN)
    this.received = maxLsn(this.received, plan.floor)
    this.serverLsn = maxLsn(this.serverLsn, session.facts.currentLsn)
    this.confirmed = session.facts.slot?.confirmedFlush ?? this.confirmed
    this.assembler.beginSession(plan.tag, plan.floor)
    this.assembler.follow(session.facts.tableOids)
    if (this.options.until !== undefined) this.end ??= session.facts.currentLsn
    live.startLsn = plan.from === ZERO_LSN ? plan.floor : plan.from
    const { scheduler, connectTimeout } = this.options
    run.add(
      session
        .start(plan.from)
        .pipe(timeout({ first: connectTimeout, scheduler, with: () => throwError(() => timedOut(`replication did not start within ${connectTimeout} ms`)) }))
        .subscribe({
          next: (message) => this.onMessage(live, message),
          error: (error: unknown) => this.onFailure(error, run),
          complete: () => this.onFailure(new ConnectionLostError({ detail: 'the replication stream ended' }), run),
        }),
    )
  }

  private onMessage(live: LiveSession, message: ReplicationMessage | StartedMessage): void {
    // Past the end, waiting for room to hand on what waits: what the server sends now is after the end.
    if (this.reachedEnd) {
      if (message.kind === 'keepalive' && message.replyRequested && this.isCurrent(live.run)) this.onReplyRequested(live)
      return
    }
    // Refused behind waiting items: what the server sends after the refused row is not for this session.
    if (this.refusedBehindHeld !== undefined && message.kind !== 'keepalive') return
    if (message.kind !== 'keepalive' || !message.replyRequested) {
      this.lastAskAt = undefined
      this.serverWaitingSince = undefined
    }
    switch (message.kind) {
      case 'change': {
        this.counts.received += 1
        // A large transaction behind streams for a while: its changes keep the windows coming.
        this.gatherWhileBehind(live)
        const refused = this.assembler.change(message, this.sinkFor(live))
        if (refused !== undefined && this.isCurrent(live.run)) {
          this.counts.decodeFailures += 1
          // The stream ends after what came before the refused row: what waits for room goes out first, as
          // acknowledgements make it.
          if (this.held.length > 0) this.refusedBehindHeld = refused
          else this.fail(refused)
        }
        return
      }
      case 'begin':
        // Committed at or after the end: everything before it was sent; it is not delivered.
        if (this.end !== undefined && message.commitLsn >= this.end) return this.reachEnd(live)
        this.behind = this.isBehind(message)
        this.gatherWhileBehind(live)
        return this.assembler.begin(message)
      case 'commit':
        this.counts.transactions += 1
        this.madeProgress()
        this.received = maxLsn(this.received, message.endLsn)
        this.serverLsn = maxLsn(this.serverLsn, message.endLsn)
        this.assembler.commit(message, this.sinkFor(live))
        this.checkpointIfFarBehind(live)
        return this.checkEnd(live, message.endLsn)
      case 'keepalive':
        this.madeProgress()
        this.received = maxLsn(this.received, message.walEnd)
        this.serverLsn = maxLsn(this.serverLsn, message.walEnd)
        this.assembler.keepalive(message.walEnd)
        this.checkpointIfFarBehind(live)
        if (message.replyRequested && this.isCurrent(live.run)) this.onReplyRequested(live)
        return this.checkEnd(live, message.walEnd)
      case 'started':
        return this.onStarted(live)
    }
  }

  private onStarted(live: LiveSession): void {
    if (!this.isCurrent(live.run)) return
    this.phase = { name: 'streaming', live }
    if (this.connectedBefore && this.retries > 0) this.counts.reconnects += 1
    this.connectedBefore = true
    // The back-off goes on counting until this session makes progress (madeProgress): a fault that recurs at
    // every connection (a crash on START_REPLICATION, WAL the server cannot decode) must not loop at full speed.
    this.busySince = undefined
    this.pingSentAt = undefined
    this.answeredAt = undefined
    this.answerOwed = false
    this.lastAskAt = undefined
    this.serverWaitingSince = undefined
    this.lastStatus = undefined
    // A window of the previous session ended with it.
    this.gathering = undefined
    this.behind = false
    this.paused = this.ledger.pending >= this.options.maxUnacknowledged
    if (this.paused) live.session.pause()
    this.ownProcessIds.add(live.session.processId)
    this.state.next({ status: 'connected', processId: live.session.processId, startLsn: formatLsn(live.startLsn) })
    if (!this.isCurrent(live.run)) return
    const { scheduler, statusInterval } = this.options
    live.run.add(interval(statusInterval, scheduler).subscribe(() => this.tick(live)))
    this.recheckPublication(live)
    // Where the server is: its answer (a keepalive) says whether the end is reached already.
    if (this.end !== undefined) this.sendStatus(live, { force: true, requestReply: true })
  }

  /**
   * `until`: the server has decoded to `lsn` (a keepalive, or a commit's end). Between transactions, past the end,
   * it has sent everything committed before the end (a keepalive follows what it sent before it; a transaction
   * is sent when decoding reaches its commit).
   */
  private checkEnd(live: LiveSession, lsn: Lsn): void {
    if (this.end === undefined) return
    this.decodedTo = maxLsn(this.decodedTo, lsn)
    if (this.decodedTo >= this.end && !this.assembler.inTransaction && this.isStreaming(live)) this.reachEnd(live)
  }

  /** The end is reached: a last checkpoint when due, then the stream completes once what waits is handed on. */
  private reachEnd(live: LiveSession): void {
    if (!this.isStreaming(live)) return
    if (this.options.checkpoints) this.assembler.checkpoint(this.sinkFor(live))
    if (!this.isStreaming(live)) return
    this.reachedEnd = true
    if (this.held.length === 0) return this.finish()
    // Nothing more is read: what comes now is after the end.
    live.session.pause()
  }

  /** Everything before the end is handed on: the session ends (reporting positions) and subscribers complete. */
  private finish(): void {
    void this.enter({ name: 'idle' })
    this.retries = 0
    this.retryAtOnce = false
    this.state.next({ status: 'idle' })
    this.options.until?.caughtUp()
    this.reportWhileIdle()
  }

  /**
   * The server sent this transaction `gatherReads.behind` ms or more after it committed (both times by its
   * clock): the stream is catching up, until a transaction begins that is not.
   */
  private isBehind(message: BeginMessage): boolean {
    const gather = this.options.gatherReads
    return gather !== false && message.sentAt - message.commitTime >= gather.behind
  }

  /**
   * One gathering window, while behind: reading stops once the reads ready now are taken, and resumes after
   * `gatherReads.window` ms, so that the next read carries what the server sent meanwhile (dozens to hundreds
   * of changes) instead of the one or two a reader that keeps pace with the socket gets: far fewer reads,
   * wake-ups and parser calls per change. One window at a time; a stream that keeps up never waits.
   */
  private gatherWhileBehind(live: LiveSession): void {
    const gather = this.options.gatherReads
    if (!this.behind || this.gathering !== undefined || gather === false) return
    this.counts.gatheredReads += 1
    live.session.pauseAfterReads()
    const window: Subscription = this.options.scheduler.schedule(() => {
      this.gathering = undefined
      live.run.remove(window)
      if (!this.paused) live.session.resume()
    }, gather.window)
    this.gathering = window
    live.run.add(window)
  }

  /** The server is far past what was delivered, between transactions: a checkpoint now rather than at the tick. */
  private checkpointIfFarBehind(live: LiveSession): void {
    if (this.options.checkpoints && this.assembler.idleAhead >= PROMPT_REPORT_BYTES) this.assembler.checkpoint(this.sinkFor(live))
  }

  /** The sink the assembler delivers through while `live` streams. */
  private sinkFor(live: LiveSession): ItemSink {
    return (live.sink ??= (item, position: DeliveredPosition, before) => {
      if (this.phase.name !== 'streaming' || this.phase.live !== live) return false
      // A refusal waits only behind what waits; it takes no room.
      if (this.paused && (this.held.length > 0 || !isRefusal(item))) {
        if (this.held.length === 0) this.heldAfter = this.assembler.resumePosition
        this.held.push({ item, position, before })
        return true
      }
      this.handOver(item, position, before)
      if (!this.paused && this.ledger.pending >= this.options.maxUnacknowledged && this.isCurrent(live.run)) {
        this.paused = true
        live.session.pause()
      }
      return true
    })
  }

  private tick(live: LiveSession): void {
    const { scheduler, healthCheck } = this.options
    if (this.options.checkpoints) this.assembler.checkpoint(this.sinkFor(live))
    if (!this.isCurrent(live.run)) return
    if (healthCheck !== false) {
      const now = scheduler.now()
      const heard = live.session.lastReceivedAt()
      if (this.pingSentAt !== undefined && heard >= this.pingSentAt) this.pingSentAt = undefined
      if (this.pingSentAt !== undefined) {
        if (now - this.pingSentAt >= healthCheck.timeout) {
          return this.onFailure(timedOut(`the server did not answer a status request within ${healthCheck.timeout} ms`), live.run)
        }
      } else if (now - heard >= healthCheck.interval) {
        this.pingSentAt = now
        return this.sendStatus(live, { force: true, requestReply: true })
      }
    }
    const { statusInterval } = this.options
    const now = this.options.scheduler.now()
    const stillAsking = this.lastAskAt !== undefined && now - this.lastAskAt <= 2 * statusInterval
    if (stillAsking && this.serverWaitingSince !== undefined && now - this.serverWaitingSince >= SERVER_WAIT_LIMIT_INTERVALS * statusInterval) {
      // A WAL sender that keeps asking while it has nothing to send waits for everything it sent to be
      // confirmed before it may exit: the server is shutting down. What is not acknowledged cannot be confirmed,
      // so the connection goes (and comes back, after what was delivered, once the server is up).
      if (this.ledger.flushLsn < this.received) {
        return this.onFailure(new ConnectionLostError({ detail: 'the server waits for unacknowledged changes to be confirmed before it shuts down; disconnected so that it can' }), live.run)
      }
    }
    // Still short of the end: ask where the server is (a server with nothing to send may not say on its own).
    const short = this.end !== undefined && !this.reachedEnd
    this.sendStatus(live, { force: this.answerOwed || short, requestReply: short })
  }

  /** The server asked for a status update: answered at once, but at most once per interval (the next tick owes it). */
  private onReplyRequested(live: LiveSession): void {
    const now = this.options.scheduler.now()
    if (this.lastAskAt !== undefined) this.serverWaitingSince ??= this.lastAskAt
    this.lastAskAt = now
    if (this.answeredAt !== undefined && now - this.answeredAt < this.options.statusInterval) {
      this.answerOwed = true
      return
    }
    this.sendStatus(live, { force: true, requestReply: false })
  }

  /**
   * Reports positions when they changed or the last report is old; `force`: now, in any case (the server
   * asked, or a probe). `requestReply` asks the server to answer at once.
   */
  private sendStatus(live: LiveSession, { force, requestReply }: { readonly force: boolean; readonly requestReply: boolean }): void {
    const now = this.options.scheduler.now()
    const flushed = this.ledger.flushLsn
    const written = maxLsn(this.received, flushed)
    const last = this.lastStatus
    if (!force && last !== undefined && last.written === written && last.flushed === flushed && now - last.at < STATUS_KEEPALIVE_MS) return
    live.session.sendStatus({ written, flushed, replyRequested: requestReply })
    // It carries every acknowledgement made so far.
    this.unreported = false
    if (force && !requestReply) {
      this.answeredAt = now
      this.answerOwed = false
    }
    this.counts.statusUpdates += 1
    this.lastStatus = { written, flushed, at: now, promptAt: flushed + PROMPT_REPORT_LSN }
    this.confirmed = maxLsn(this.confirmed, flushed)
  }

  /**
   * A committed transaction or a keepalive (the server had nothing more to send): the session works, so the
   * next loss is retried at once again, and the back-off starts over.
   */
  private madeProgress(): void {
    this.retries = 0
    this.retryAtOnce = false
  }

  private onFailure(error: unknown, run: Subscription): void {
    if (!this.isCurrent(run)) return
    const classified = this.options.classify(error)
    if (!(classified instanceof ConnectionLostError) && !(classified instanceof SlotInUseError)) return this.fail(classified)
    const now = this.options.scheduler.now()
    if (classified instanceof SlotInUseError) {
      // The WAL sender of one of this stream's own lost sessions (a half-open socket the health check replaced)
      // holds the slot until the server's wal_sender_timeout ends it: waited for, not counted as another consumer.
      const ownOrphan = classified.info.activePid !== undefined && this.ownProcessIds.has(classified.info.activePid)
      if (!ownOrphan) {
        this.busySince ??= now
        if (now - this.busySince >= this.options.slotInUseTimeout) return this.fail(classified)
      }
    } else {
      this.busySince = undefined
    }
    if (this.phase.name === 'streaming') this.retryAtOnce = true
    this.retries += 1
    this.counts.reconnectAttempts += 1
    const { backoff, scheduler } = this.options
    const delay = !this.retryAtOnce ? backoffDelay(this.retries, backoff) : this.retries === 1 ? 0 : backoffDelay(this.retries - 1, backoff)
    const timer = new Subscription()
    void this.enter({ name: 'waiting', timer })
    this.state.next({ status: 'reconnecting', attempt: this.retries, delay, lastError: classified })
    if (this.phase.name !== 'waiting' || this.phase.timer !== timer) return
    if (delay === 0) this.open()
    else timer.add(scheduler.schedule(() => this.open(), delay))
  }

  /**
   * While streaming, the publication is read again every `recheckInterval`: one dropped, or without a table the
   * stream delivers, fails the stream as a start would. Nothing else tells: pgoutput skips a publication missing
   * at a WAL position (a warning in the server's log), and the session goes on sending keepalives and the other
   * tables. A check that cannot be made (no connection) is skipped: the next asks again. Each check also gives
   * the watched tables' OIDs as they are now (a table that took a watched name since: `ChangeAssembler.follow`).
   */
  private recheckPublication(live: LiveSession): void {
    const { recheckInterval, scheduler, request } = this.options
    const publication = this.source.publication?.bind(this.source)
    if (recheckInterval === false || publication === undefined) return
    live.run.add(
      interval(recheckInterval, scheduler)
        .pipe(exhaustMap(() => publication().pipe(take(1), catchError(() => EMPTY))))
        .subscribe((facts) => {
          this.assembler.follow(facts.tableOids)
          const refusal = publicationRefusal(facts, request)
          if (refusal !== undefined) this.onFailure(refusal, live.run)
        }),
    )
  }

  private fail(error: ReplicationFailure): void {
    void this.enter({ name: 'failed', error })
    this.state.next({ status: 'failed', error })
    this.reportWhileIdle()
  }

  /**
   * Moves to `next`, then ends what the previous phase ran, so that whatever that teardown reports is already
   * stale. A streaming session reports its positions first. Resolves once the previous connection is closed.
   */
  private enter(next: Phase): Promise<void> {
    const previous = this.phase
    this.phase = next
    if (previous.name === 'opening') previous.run.unsubscribe()
    else if (previous.name === 'waiting') previous.timer.unsubscribe()
    else if (isLive(previous)) {
      if (previous.name === 'streaming' && next.name !== 'waiting') this.sendStatus(previous.live, { force: false, requestReply: false })
      previous.live.run.unsubscribe()
      this.paused = false
      // The next session meets the refused row again, after what waited is sent again.
      this.refusedBehindHeld = undefined
      // What the server had decoded, and the end reached, were this session's: what waited is sent again.
      this.decodedTo = ZERO_LSN
      this.reachedEnd = false
      if (this.held.length > 0) {
        // Never delivered: the next session resumes before them, and the server sends them again.
        this.assembler.rewindTo(this.heldAfter)
        this.held = []
      }
      this.heldAfter = undefined
      return previous.live.session.end()
    }
    return Promise.resolve()
  }

  private isCurrent(run: Subscription): boolean {
    const phase = this.phase
    return phase.name === 'opening' ? phase.run === run : isLive(phase) && phase.live.run === run
  }
}

/** A refused change for `onInvalid`, passed through the sink in its place among the items. */
function isRefusal(item: Parameters<ItemSink>[0] | undefined): item is ChangeDecodeError {
  return item instanceof ChangeDecodeError
}

function isLive(phase: Phase): phase is LivePhase {
  return phase.name === 'starting' || phase.name === 'streaming'
}

function timedOut(detail: string): ConnectionLostError {
  return new ConnectionLostError({ systemCode: 'ETIMEDOUT', detail })
}
