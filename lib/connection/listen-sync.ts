import { catchError, concatMap, from, map, of, throwError, type Subscription } from 'rxjs'
import type { ListenSession } from '../ports/notification-source.js'

type ListenChange = 'listen' | 'unlisten'

export interface ListenSyncEvents {
  /** A batch was confirmed: what is in effect changed. */
  confirmed(): void
  /** A change was asked for or went out, which can end what was in effect (an UNLISTEN on its way). */
  changed(): void
  /** The server refused a batch, or the connection broke while it ran. */
  failed(error: unknown): void
  /**
   * The server cannot listen to `channel` itself, which is no longer on the server: it refused its LISTEN
   * (`error`), or it listens to a shorter name instead (`listenedAs`: LISTEN truncated it).
   */
  refused(channel: string, refusal: { readonly error: unknown } | { readonly listenedAs: string }): void
}

/**
 * A data exception (SQLSTATE class 22) from LISTEN is about one name: a character the database's encoding has no
 * equivalent for (22P05). The connection is fine, and the other names of the batch can be listened to.
 */
function refusesName(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' && code.length === 5 && code.startsWith('22')
}

/** The longest name PostgreSQL keeps (NAMEDATALEN - 1 bytes), and the most bytes a character takes in a server encoding. */
const MAX_NAME_BYTES = 63
const MAX_CHAR_BYTES = 4

/** The most bytes `name` can take in any server encoding: 1 for ASCII, at most 4 for any other character. */
function mostBytes(name: string): number {
  let bytes = 0
  for (const char of name) bytes += (char.codePointAt(0) as number) < 0x80 ? 1 : MAX_CHAR_BYTES
  return bytes
}

/**
 * Keeps one session's LISTEN set equal to the channels wanted, one batch at a time.
 *
 * `onServer` is what PostgreSQL will listen to once the batch in flight succeeds, and `pending` is the
 * difference still to send, so a subscribe or unsubscribe made while a batch is in flight is neither lost nor
 * sent twice, and the work per change is O(1). `inEffect` is what the server has confirmed.
 */
export class ListenSync {
  private readonly onServer = new Set<string>()
  private readonly inEffect = new Set<string>()
  private readonly pending = new Map<string, ListenChange>()
  private inFlight: Subscription | undefined
  private started = 0
  private stopped = false

  constructor(
    private readonly session: ListenSession,
    private readonly events: ListenSyncEvents,
  ) {}

  /** LISTENs to `channels`, the session's first batch. */
  start(channels: Iterable<string>): void {
    for (const channel of channels) this.pending.set(channel, 'listen')
    this.sendPending()
  }

  want(channel: string): void {
    if (this.onServer.has(channel)) this.pending.delete(channel)
    else this.pending.set(channel, 'listen')
    this.sendPending()
    this.events.changed()
  }

  unwant(channel: string): void {
    if (this.onServer.has(channel)) this.pending.set(channel, 'unlisten')
    else this.pending.delete(channel)
    this.sendPending()
    this.events.changed()
  }

  /** Every change asked for so far is confirmed by the server. */
  get settled(): boolean {
    return this.inFlight === undefined && this.pending.size === 0
  }

  /** A batch is on the wire (itself a sign that the connection is alive). */
  get busy(): boolean {
    return this.inFlight !== undefined
  }

  /** How many batches were started: an answer read before and after a batch ran is stale. */
  get batchesStarted(): number {
    return this.started
  }

  /**
   * The server confirmed LISTEN for `channel` on this session, and no change of it is on its way: what is
   * committed from now on is delivered. An UNLISTEN in flight (the channel left, then wanted again before the
   * server answered) may already have run on the server, so the channel is not in effect until it is LISTENed again.
   */
  isInEffect(channel: string): boolean {
    return this.inEffect.has(channel) && this.onServer.has(channel) && !this.pending.has(channel)
  }

  /** What is wrong with the server's own list of LISTENs, compared with what this session sent; undefined when it matches. */
  mismatch(serverChannels: readonly string[]): string | undefined {
    const reported = new Set(serverChannels)
    for (const channel of this.onServer) if (!reported.has(channel)) return `not listening to ${JSON.stringify(channel)}`
    for (const channel of reported) if (!this.onServer.has(channel)) return `unexpectedly listening to ${JSON.stringify(channel)}`
    return undefined
  }

  /**
   * Compares the server's own list of LISTENs with what this session sent (as `mismatch`), after setting apart
   * names the server truncated: LISTEN cuts a name longer than 63 bytes in the database's encoding (EUC_JP
   * writes some characters in 3 bytes that UTF-8 writes in 2, so a name within 63 bytes of UTF-8 can be longer
   * there) and listens to its first bytes, without an error. Such a channel is refused (`refused`, with the name
   * the server listens to, which is unlistened unless it is wanted itself): nothing sent to the full name could
   * arrive, and reconnecting would truncate it again.
   */
  reconcile(serverChannels: readonly string[]): string | undefined {
    const reported = new Set(serverChannels)
    const truncations: Array<readonly [channel: string, listenedAs: string]> = []
    for (const channel of this.onServer) {
      // Only a name with characters beyond printable ASCII can be longer in the database's encoding than in UTF-8.
      if (reported.has(channel) || !/[^ -~]/.test(channel) || mostBytes(channel) <= MAX_NAME_BYTES) continue
      // What LISTEN kept: the longest prefix of at most 63 bytes, so more than 63 less one character's bytes.
      const prefixes = serverChannels.filter((name) => name.length < channel.length && channel.startsWith(name) && mostBytes(name) > MAX_NAME_BYTES - MAX_CHAR_BYTES)
      // Another name's, or failing that the longest this session listens to itself (it wanted the prefix too: one
      // name on the server serves both, and stays listened to).
      const listenedAs = prefixes.find((name) => !this.onServer.has(name)) ?? prefixes.sort((a, b) => b.length - a.length)[0]
      if (listenedAs !== undefined) truncations.push([channel, listenedAs])
    }
    if (truncations.length === 0) return this.mismatch(serverChannels)
    for (const [channel, listenedAs] of truncations) {
      this.onServer.delete(channel)
      this.inEffect.delete(channel)
      if (!this.onServer.has(listenedAs)) this.pending.set(listenedAs, 'unlisten')
    }
    const truncated = new Set(truncations.map(([, listenedAs]) => listenedAs))
    const mismatch = this.mismatch(serverChannels.filter((name) => this.onServer.has(name) || !truncated.has(name)))
    for (const [channel, listenedAs] of truncations) this.events.refused(channel, { listenedAs })
    this.sendPending()
    return mismatch
  }

  /** Stops sending (the session is gone); a batch in flight is abandoned. */
  stop(): void {
    this.stopped = true
    this.inFlight?.unsubscribe()
    this.inFlight = undefined
  }

  private sendPending(): void {
    if (this.stopped || this.inFlight !== undefined || this.pending.size === 0) return
    const add: string[] = []
    const remove: string[] = []
    for (const [channel, change] of this.pending) {
      if (change === 'listen') {
        add.push(channel)
        this.onServer.add(channel)
      } else {
        remove.push(channel)
        this.onServer.delete(channel)
      }
    }
    this.pending.clear()
    this.started += 1
    let done = false
    const subscription = this.session.changeListens(add, remove).subscribe({
      error: (error: unknown) => {
        done = true
        this.inFlight = undefined
        if (this.stopped) return
        if (refusesName(error)) this.oneByOne(add, remove)
        else this.events.failed(error)
      },
      complete: () => {
        done = true
        this.inFlight = undefined
        for (const channel of remove) this.inEffect.delete(channel)
        for (const channel of add) this.inEffect.add(channel)
        if (this.stopped) return
        this.sendPending()
        this.events.confirmed()
      },
    })
    // A source that answers in the same call has already finished.
    if (!done) this.inFlight = subscription
  }

  /**
   * A batch the server refused because of one of its names: the batch's statements again, one at a time. What
   * ran of the batch before the refusal rolled back with it (a batch is one transaction) or ran again harmlessly
   * (LISTEN and UNLISTEN are idempotent), so every name ends up as asked, except those refused: they are told
   * (`refused`), and an UNLISTEN refused the same way leaves nothing to undo (such a name was never listened to).
   */
  private oneByOne(add: readonly string[], remove: readonly string[]): void {
    this.started += 1
    const steps: ReadonlyArray<readonly [channel: string, listen: boolean]> = [...remove.map((channel) => [channel, false] as const), ...add.map((channel) => [channel, true] as const)]
    const refused: Array<readonly [string, unknown]> = []
    let done = false
    const subscription = from(steps)
      .pipe(
        concatMap(([channel, listen]) =>
          this.session.changeListens(listen ? [channel] : [], listen ? [] : [channel]).pipe(
            map(() => undefined),
            catchError((error: unknown) => {
              if (!refusesName(error)) return throwError(() => error)
              if (listen) refused.push([channel, error])
              return of(undefined)
            }),
          ),
        ),
      )
      .subscribe({
        error: (error: unknown) => {
          done = true
          this.inFlight = undefined
          if (!this.stopped) this.events.failed(error)
        },
        complete: () => {
          done = true
          this.inFlight = undefined
          for (const channel of remove) this.inEffect.delete(channel)
          for (const channel of add) this.inEffect.add(channel)
          for (const [channel] of refused) {
            this.onServer.delete(channel)
            this.inEffect.delete(channel)
          }
          if (this.stopped) return
          for (const [channel, error] of refused) this.events.refused(channel, { error })
          this.sendPending()
          this.events.confirmed()
        },
      })
    if (!done) this.inFlight = subscription
  }
}
