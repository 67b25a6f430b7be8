/**
 * A drawn replication server for marble tests: each `connect()` answers with a script (a session's server
 * facts, and what it streams once started), and every status update, pause, start and end is recorded, so
 * the stream's lifecycle runs in virtual time against real `changeStream` code.
 */
import { NEVER, Observable, Subject, concat, map, merge, of, take, tap } from 'rxjs'
import { formatLsn, parseLsn, type Lsn } from './lsn.js'
import type {
  BeginMessage,
  ChangeMessage,
  CommitMessage,
  KeepaliveMessage,
  ReplicationMessage,
  ReplicationSession,
  ReplicationSource,
  ServerFacts,
  SlotFacts,
  StartedMessage,
} from './ports.js'
import { definedFields } from '../option-checks.js'
import type { OptionalFields } from '../types.js'
import { parseTableName } from './table-names.js'
import type { Row } from './types.js'

/** How one connection behaves once open. */
export interface VirtualReplicationScript {
  /** The WAL sender's process id. Default: 100 + the number of the `connect()` that opened it. */
  readonly processId?: number | undefined
  /**
   * What the server says about itself, the publication and the slot; the rest is a healthy server: PostgreSQL
   * 18, `wal_level` logical, database `app`, WAL at 0/3000000, publication with `public.orders` and
   * `public.refunds`, an idle pgoutput slot confirmed at 0/1000000. `slot: null` is a missing slot.
   */
  readonly facts?: OptionalFields<Omit<ServerFacts, 'slot' | 'currentLsn'>> & {
    readonly currentLsn?: string | undefined
    readonly slot?: (OptionalFields<Omit<SlotFacts, 'confirmedFlush'>> & { readonly confirmedFlush?: string | undefined }) | null | undefined
  } | undefined
  /**
   * What the server streams after START_REPLICATION at `from` (`X/Y`), `started` included: draw it with `cold`
   * (`cold('-s-a', { s: started, a: begin('0/2000000') })`); erroring is the connection lost. Default: started at
   * once, then nothing.
   */
  readonly stream?: ((from: string) => Observable<ReplicationMessage | StartedMessage>) | undefined
  /**
   * Whether the server answers a status update that asks for a reply (a liveness probe) with a keepalive at
   * its current WAL position, in the same frame, as PostgreSQL does. Default true; false draws a silent server.
   */
  readonly answersProbes?: boolean | undefined
}

/** One standby status update, with its positions as PostgreSQL prints them. */
export interface RecordedStatus {
  readonly processId: number
  readonly written: string
  readonly flushed: string
  readonly replyRequested: boolean
}

export interface VirtualReplicationSource extends ReplicationSource {
  /** One value per `connect()`: its number, from 1. */
  readonly connects$: Observable<number>
  /** One value per START_REPLICATION: the LSN asked for (`0/0`: the slot's confirmed position). */
  readonly starts$: Observable<string>
  readonly statusUpdates$: Observable<RecordedStatus>
  /** Reading stops (`pause`, for flow control or a gathering window) or starts again (`resume`): each change once. */
  readonly flow$: Observable<'pause' | 'resume'>
  /** One value (the process id) per session ended by the stream. */
  readonly ends$: Observable<number>
}

export interface VirtualReplicationSourceOptions {
  /**
   * What the n-th check of the publication while streaming (`recheckInterval`) finds, drawn as the facts are
   * (the healthy defaults for what is left out): `(check) => cold('-a', { a: { publicationExists: false } })`.
   * Erroring is a check that could not be made. Without it, the source has no checks to answer, and a stream on
   * it checks nothing.
   */
  readonly publication?: ((check: number) => Observable<VirtualReplicationScript['facts']>) | undefined
}

/**
 * A `ReplicationSource` whose n-th `connect()` does what `connects[n]` draws (the last one answers every later
 * call): emit a script when the connection is ready, or error when it cannot be opened.
 *
 * ```ts
 * const source = virtualReplicationSource([cold('-#', undefined, refused), cold('-s', { s: { stream: () => cold('s', { s: started }) } })])
 * const stream = changeStream('postgres://app@virtual/app', { slot: 'feed', publication: 'orders_pub', source, scheduler })
 * ```
 */
export function virtualReplicationSource(
  connects: readonly Observable<VirtualReplicationScript>[] | ((attempt: number) => Observable<VirtualReplicationScript>),
  options: VirtualReplicationSourceOptions = {},
): VirtualReplicationSource {
  const connects$ = new Subject<number>()
  const starts$ = new Subject<string>()
  const statusUpdates$ = new Subject<RecordedStatus>()
  const flow$ = new Subject<'pause' | 'resume'>()
  const ends$ = new Subject<number>()
  let attempts = 0
  const attemptFor = (attempt: number): Observable<VirtualReplicationScript> => {
    if (typeof connects === 'function') return connects(attempt)
    const drawn = connects[Math.min(attempt, connects.length) - 1]
    if (drawn === undefined) throw new TypeError('virtualReplicationSource: give at least one connect() answer')
    return drawn
  }
  return {
    connect: (clock) =>
      new Observable<ReplicationSession>((subscriber) => {
        attempts += 1
        const attempt = attempts
        connects$.next(attempt)
        let session: VirtualSession | undefined
        const subscription = attemptFor(attempt).subscribe({
          next: (script) => {
            session = new VirtualSession(script.processId ?? 100 + attempt, script, clock, { starts$, statusUpdates$, flow$, ends$ })
            subscriber.next(session)
          },
          error: (error: unknown) => subscriber.error(error),
        })
        return () => {
          subscription.unsubscribe()
          void session?.end()
        }
      }),
    ...(options.publication === undefined ? {} : { publication: publicationChecks(options.publication) }),
    connects$: connects$.asObservable(),
    starts$: starts$.asObservable(),
    statusUpdates$: statusUpdates$.asObservable(),
    flow$: flow$.asObservable(),
    ends$: ends$.asObservable(),
  }
}

/** `publication()` of the source: the drawn check, numbered from 1, read into facts as a connection's are. */
function publicationChecks(draw: NonNullable<VirtualReplicationSourceOptions['publication']>): () => Observable<ServerFacts> {
  let checks = 0
  return () => {
    checks += 1
    return draw(checks).pipe(take(1), map((drawn) => factsOf(drawn)))
  }
}

interface Records {
  readonly starts$: Subject<string>
  readonly statusUpdates$: Subject<RecordedStatus>
  readonly flow$: Subject<'pause' | 'resume'>
  readonly ends$: Subject<number>
}

class VirtualSession implements ReplicationSession {
  readonly facts: ServerFacts
  private lastReceived: number
  private ended = false
  private reading = true
  /** The server's answers to probes. */
  private readonly answers$ = new Subject<KeepaliveMessage>()

  constructor(
    readonly processId: number,
    private readonly script: VirtualReplicationScript,
    private readonly clock: () => number,
    private readonly records: Records,
  ) {
    this.facts = factsOf(script.facts)
    this.lastReceived = clock()
  }

  start(from: Lsn): Observable<ReplicationMessage | StartedMessage> {
    const at = formatLsn(from)
    this.records.starts$.next(at)
    const drawn = this.script.stream?.(at) ?? concat(of<StartedMessage>(started), NEVER)
    // Answers first: a status update sent on `started` (a short session's report) is answered in that frame.
    return merge(this.answers$, drawn).pipe(tap(() => (this.lastReceived = this.clock())))
  }

  sendStatus(update: { readonly written: Lsn; readonly flushed: Lsn; readonly replyRequested: boolean }): void {
    if (this.ended) return
    this.records.statusUpdates$.next({
      processId: this.processId,
      written: formatLsn(update.written),
      flushed: formatLsn(update.flushed),
      replyRequested: update.replyRequested,
    })
    if (update.replyRequested && this.script.answersProbes !== false) this.answers$.next({ kind: 'keepalive', walEnd: this.facts.currentLsn, replyRequested: false })
  }

  pause(): void {
    if (!this.reading) return
    this.reading = false
    this.records.flow$.next('pause')
  }

  /** A drawn server has no socket: reading stops at once. */
  pauseAfterReads(): void {
    this.pause()
  }

  resume(): void {
    if (this.reading) return
    this.reading = true
    this.records.flow$.next('resume')
  }

  lastReceivedAt(): number {
    return this.lastReceived
  }

  async end(): Promise<void> {
    if (this.ended) return
    this.ended = true
    this.records.ends$.next(this.processId)
  }
}

function factsOf(drawn: VirtualReplicationScript['facts'] = {}): ServerFacts {
  const { slot: drawnSlot, currentLsn, ...rest } = drawn
  const base: Omit<ServerFacts, 'slot'> = {
    serverVersion: 180000,
    systemId: '7000000000000000000',
    database: 'app',
    walLevel: 'logical',
    publicationExists: true,
    publishedTables: ['public.orders', 'public.refunds'],
    ...definedFields(rest),
    currentLsn: lsn(currentLsn ?? '0/3000000'),
  }
  if (drawnSlot === null) return base
  const { confirmedFlush, ...slotRest } = drawnSlot ?? {}
  const slot: SlotFacts = {
    slotType: 'logical',
    plugin: 'pgoutput',
    database: base.database,
    active: false,
    lost: false,
    ...definedFields(slotRest),
    confirmedFlush: lsn(confirmedFlush ?? '0/1000000'),
  }
  return { ...base, slot }
}

function lsn(text: string): Lsn {
  const parsed = parseLsn(text)
  if (parsed === undefined) throw new TypeError(`virtualReplicationSource: ${JSON.stringify(text)} is not an LSN (X/Y)`)
  return parsed
}

// Builders for the values of replication diagrams. LSNs are written as PostgreSQL prints them.

/** The server confirmed START_REPLICATION. */
export const started: StartedMessage = { kind: 'started' }

/**
 * A transaction whose commit record is at `commitLsn` begins. `commitTime` and `sentAt` are the server's clock
 * (ms since the epoch) at its commit and when it sent this message; by default sent as it committed.
 */
export function begin(commitLsn: string, xid = 1000, commitTime = 0, sentAt = commitTime): BeginMessage {
  return { kind: 'begin', commitLsn: lsn(commitLsn), commitTime, sentAt, xid }
}

/** The transaction committed at `commitLsn` ends; its commit record ends at `endLsn`. */
export function commit(commitLsn: string, endLsn: string): CommitMessage {
  return { kind: 'commit', commitLsn: lsn(commitLsn), endLsn: lsn(endLsn) }
}

/** An insert into `table`, named as in `tables` (`schema.table`, `table` of `public`, `"a.b".c`). */
export function insert(table: string, row: Row): ChangeMessage {
  return { kind: 'change', op: 'insert', ...parseTableName(table), new: row }
}

export function update(table: string, row: Row, old?: Row): ChangeMessage {
  return old === undefined ? { kind: 'change', op: 'update', ...parseTableName(table), new: row } : { kind: 'change', op: 'update', ...parseTableName(table), new: row, old }
}

export function remove(table: string, old: Row): ChangeMessage {
  return { kind: 'change', op: 'delete', ...parseTableName(table), old }
}

/** The server has decoded up to `walEnd`; `replyRequested` asks for a status update at once. */
export function keepalive(walEnd: string, replyRequested = false): KeepaliveMessage {
  return { kind: 'keepalive', walEnd: lsn(walEnd), replyRequested }
}
