import type { Socket } from 'node:net'
import pg from 'pg'
import { Observable, concatMap, map, take, type Subscriber } from 'rxjs'
import { catalogTypes } from '../../pg/catalog-types.js'
import { clientConfigOf, type PgConnectionConfig } from '../../pg/config.js'
import { COPY_DATA, takeOverMessages } from '../../pg/message-reader.js'
import { PgConnection } from '../../pg/pg-connection.js'
import { ConnectionLostError } from '../../errors.js'
import { formatLsn, type Lsn } from '../lsn.js'
import type { ReplicationMessage, ReplicationSession, ReplicationSource, ServerFacts, StartedMessage, StatusUpdate } from '../ports.js'
import { quoteName, replicationCommandLiteral } from '../sql-text.js'
import { PgoutputDecoder, UnresolvedTypesError, type ColumnType, type TypeParser } from './pgoutput-decoder.js'
import { FIRST_NON_BUILTIN_TYPE_OID, serverFactsOf, serverFactsQuery, type ServerFactsRow } from './server-facts.js'
import { standbyStatusFrame } from './standby-status.js'

interface IdentifySystemRow {
  readonly systemid: string
  readonly dbname: string | null
}

/** pg's connection, seen from here: it emits the CopyBoth start and each CopyData message. */
interface CopyBothEvents {
  on(event: 'copyData', listener: (message: { chunk: Buffer }) => void): void
  on(event: 'replicationStart', listener: () => void): void
  off(event: string, listener: (...args: never[]) => void): void
}

/**
 * The default source: one rxpg-owned `pg.Client` in logical replication mode (`replication: 'database'`) per
 * `connect()`, reading `pgoutput` with CopyBoth: its CopyData messages straight off the socket, everything else
 * through pg's own protocol parser (lib/pg/message-reader.ts). Rows are parsed with the config's `types` when it
 * has them, else with pg's.
 *
 * The facts (server, publication, slot, column types) are read before streaming on a short-lived ordinary
 * connection, never on the replication one: a query there leaves the WAL sender with the tables' current
 * definitions cached, which it then uses to decode changes written before a schema change (measured on
 * PostgreSQL 18: wrong values without an error, or a crash of the WAL sender at every START_REPLICATION, and
 * with it of every session of the server). A logical replication connection matches the same pg_hba.conf
 * lines as an ordinary one to its database, so a role that may stream may also ask.
 *
 * pgoutput names a column's own type where a query's row description names a domain's base type, so the
 * non-built-in column types are resolved from the catalog before streaming (with the facts): those of the
 * published tables, and any a Relation message named since. A Relation message
 * naming a type not resolved yet (a domain created after the connection opened) ends the session before
 * anything of that relation is decoded; the stream reconnects at once, resolves it, and goes on exactly
 * after what it delivered.
 *
 * `tables`: the tables the stream delivers (`schema.table`), checked for partitioned ones.
 */
export function pgReplicationSource(
  config: PgConnectionConfig,
  names: { readonly slot: string; readonly publication: string; readonly tables?: readonly string[] | undefined },
): ReplicationSource {
  const factsConfig = clientConfigOf(config, 'replication catalog')
  const clientConfig = { ...clientConfigOf(config, 'replication'), replication: 'database' } as pg.ClientConfig
  const types = clientConfig.types
  const catalog = new TypeCatalog()
  const parserOf = (oid: number): TypeParser =>
    types === undefined ? pg.types.getTypeParser(oid, 'text') : (types.getTypeParser(oid, 'text') as TypeParser)
  const typeOf = (oid: number): ColumnType => {
    if (oid < FIRST_NON_BUILTIN_TYPE_OID) return parserOf(oid)
    const base = catalog.baseOf(oid)
    return base === undefined ? 'unresolved' : base === DROPPED ? 'dropped' : parserOf(base)
  }
  /** The facts query's row, on a short-lived ordinary connection (ended once answered: take unsubscribes from open). */
  const factsRow = (typeOids: readonly number[]) =>
    PgConnection.open(factsConfig).pipe(
      concatMap((ordinary) => ordinary.query<ServerFactsRow>(serverFactsQuery(names.slot, names.publication, { tables: names.tables ?? [], typeOids }))),
      take(1),
      map((facts) => facts.rows[0] as ServerFactsRow),
    )
  return {
    connect: (clock) =>
      PgConnection.open(clientConfig).pipe(
        concatMap((connection) =>
          connection.query(OUTPUT_SETTINGS).pipe(
            // Read with rxpg's parsers: the system id names the slot in every token, whatever the application set.
            concatMap(() => connection.query<IdentifySystemRow>({ text: 'IDENTIFY_SYSTEM', types: catalogTypes })),
            concatMap((identity) => {
              const asked = catalog.pending()
              return factsRow(asked).pipe(
                map((row) => {
                  catalog.learn(row.column_types, asked)
                  return serverFactsOf(row, String(identity.rows[0]?.systemid))
                }),
              )
            }),
            map((facts) => new PgReplicationSession(connection, facts, names, new PgoutputDecoder(typeOf), catalog, clock)),
          ),
        ),
      ),
    // The same query as at the start: only its publication facts are read (no system id asked).
    publication: () => factsRow([]).pipe(map((row) => serverFactsOf(row, ''))),
  }
}

/**
 * The WAL sender writes each value with its session's output settings, and pg's type parsers read PostgreSQL's
 * defaults only: under a DateStyle of 'SQL, DMY' a timestamptz was parsed as null, under an IntervalStyle of
 * 'postgres_verbose' an interval as empty, under extra_float_digits 0 a double lost digits, all without an error
 * (a new user's trial: a server, role, database or connection string set by someone else). The session's own
 * settings, set before replication starts, whatever those say; bytea in hex, which pg reads fastest.
 */
const OUTPUT_SETTINGS = "SET DateStyle = 'ISO'; SET IntervalStyle = 'postgres'; SET extra_float_digits = 3; SET bytea_output = 'hex'"

/** A type the catalog no longer has: what its values were cannot be known. */
const DROPPED = -1

/**
 * Non-built-in column types, each with the type its values are parsed as (a domain's base type), or DROPPED;
 * kept across sessions, so a type learnt before it was dropped is still read right.
 */
class TypeCatalog {
  private readonly bases = new Map<number, number>()
  private readonly asked = new Set<number>()

  baseOf(oid: number): number | undefined {
    return this.bases.get(oid)
  }

  /** Types a Relation message named before they were resolved: the next session's facts query resolves them. */
  ask(oids: readonly number[]): void {
    for (const oid of oids) this.asked.add(oid)
  }

  pending(): number[] {
    return [...this.asked]
  }

  /**
   * What the catalog said. A type asked for that it no longer has was dropped since the change was written (a
   * domain over boolean sends 'f' for false, which read as text is truthy): DROPPED, and its changes are refused.
   */
  learn(resolved: ReadonlyArray<readonly [number, number]>, asked: readonly number[]): void {
    for (const [oid, base] of resolved) this.bases.set(oid, base)
    for (const oid of asked) {
      if (!this.bases.has(oid)) this.bases.set(oid, DROPPED)
      this.asked.delete(oid)
    }
  }
}

class PgReplicationSession implements ReplicationSession {
  private lastReceived: number
  private started = false
  private pendingPause: NodeJS.Immediate | undefined
  /** CopyData is read off the socket (takeOverCopyData), not from pg's events. */
  private readonly readsCopyData: boolean
  /** Where CopyData goes while the stream is subscribed. */
  private receiver: { readonly emit: (message: ReplicationMessage) => void; readonly subscriber: Subscriber<ReplicationMessage | StartedMessage> } | undefined

  constructor(
    private readonly connection: PgConnection,
    readonly facts: ServerFacts,
    private readonly names: { readonly slot: string; readonly publication: string },
    private readonly decoder: PgoutputDecoder,
    private readonly catalog: TypeCatalog,
    private readonly clock: () => number,
  ) {
    this.lastReceived = clock()
    // One clock reading per socket read (a read carries many messages), not per message. The connection is
    // idle here (its statements answered), so nothing is half-read in pg's parser.
    const onRead = () => {
      this.lastReceived = clock()
    }
    const socket = connection.socket
    this.readsCopyData = socket !== undefined && takeOverMessages(socket, COPY_DATA, (buffer, start, end) => this.onCopyData(buffer, start, end), onRead) !== undefined
    if (!this.readsCopyData) socket?.on('data', onRead)
  }

  get processId(): number {
    return this.connection.processId
  }

  start(from: Lsn): Observable<ReplicationMessage | StartedMessage> {
    return new Observable<ReplicationMessage | StartedMessage>((subscriber) => {
      if (this.started) return subscriber.error(new Error('a replication session streams once'))
      this.started = true
      const events = (this.connection.client as unknown as { connection: CopyBothEvents }).connection
      this.receiver = { emit: (message: ReplicationMessage) => subscriber.next(message), subscriber }
      const onStart = () => subscriber.next({ kind: 'started' })
      // pg's parser hands CopyData over only when it was not taken off the socket.
      const onCopyData = ({ chunk }: { chunk: Buffer }) => this.onCopyData(chunk, 0, chunk.length)
      events.on('replicationStart', onStart)
      if (!this.readsCopyData) events.on('copyData', onCopyData)
      const options = `proto_version '1', publication_names ${replicationCommandLiteral(quoteName(this.names.publication))}`
      const streaming = this.connection.query(`START_REPLICATION SLOT ${quoteName(this.names.slot)} LOGICAL ${formatLsn(from)} (${options})`).subscribe({
        // The server ended the copy on its own (it is shutting down): for the stream, a lost connection.
        complete: () => subscriber.error(new Error('the server ended replication')),
        error: (error: unknown) => subscriber.error(error),
      })
      const failure = this.connection.broken$.subscribe({ error: (error: unknown) => subscriber.error(error) })
      return () => {
        this.receiver = undefined
        events.off('replicationStart', onStart)
        events.off('copyData', onCopyData as (...args: never[]) => void)
        failure.unsubscribe()
        streaming.unsubscribe()
      }
    })
  }

  /** One CopyData message, `buffer` from `start` to `end`. */
  private onCopyData(buffer: Buffer, start: number, end: number): void {
    const receiver = this.receiver
    // Nobody subscribed (any more): what the server still sends before the connection ends is not read.
    if (receiver === undefined || end - start < 1) return
    const { emit, subscriber } = receiver
    try {
      const type = buffer[start]
      // XLogData: 'w', start LSN, WAL end, send time (8 bytes each), then one pgoutput message.
      if (type === 0x77) this.decoder.decode(buffer, start + 25, emit)
      // Primary keepalive: 'k', WAL end, send time, reply requested.
      else if (type === 0x6b) emit({ kind: 'keepalive', walEnd: buffer.readBigUInt64BE(start + 1), replyRequested: buffer[start + 17] === 1 })
    } catch (error) {
      // A message that cannot be read leaves the stream at an unknown place: this connection is done.
      if (error instanceof UnresolvedTypesError) {
        this.catalog.ask(error.typeOids)
        subscriber.error(
          new ConnectionLostError({
            detail: `relation ${error.relation} has columns of types (oids ${error.typeOids.join(', ')}) that this connection did not read from the catalog before streaming, such as a domain created since; reconnecting to read them`,
          }),
        )
      } else {
        subscriber.error(error)
      }
      this.connection.destroy()
    }
  }

  sendStatus(update: StatusUpdate): void {
    const socket = this.socket
    if (socket !== undefined && socket.writable) socket.write(standbyStatusFrame(update, Date.now()))
  }

  pause(): void {
    this.socket?.pause()
  }

  pauseAfterReads(): void {
    // Node takes every read the socket has ready in the poll phase of the event loop, one 'data' event each
    // (a read of a plain socket stops short when the kernel has no more); the check phase right after it is
    // the first moment past them. Not a timer: no time passes, only the reads ready now are let in.
    this.pendingPause ??= setImmediate(() => {
      this.pendingPause = undefined
      this.socket?.pause()
    })
  }

  resume(): void {
    this.cancelPendingPause()
    this.socket?.resume()
  }

  lastReceivedAt(): number {
    return this.lastReceived
  }

  /** Ends the connection once a final status update written just before has left (a kernel write, not a server answer). */
  end(): Promise<void> {
    this.cancelPendingPause()
    const socket = this.socket
    if (socket === undefined || socket.destroyed || socket.writableLength === 0) return this.connection.end()
    return new Promise<void>((resolve) => {
      const done = () => {
        socket.off('drain', done)
        socket.off('close', done)
        resolve(this.connection.end())
      }
      socket.once('drain', done)
      socket.once('close', done)
    })
  }

  private cancelPendingPause(): void {
    if (this.pendingPause === undefined) return
    clearImmediate(this.pendingPause)
    this.pendingPause = undefined
  }

  private get socket(): Socket | undefined {
    return this.connection.socket
  }
}
