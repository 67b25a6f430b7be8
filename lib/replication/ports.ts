/**
 * The port between a change stream and the replication protocol. Everything is an Observable or a plain call,
 * so the stream's lifecycle (connecting, checks, positions, acknowledgements, status updates, back-off) runs
 * on marble diagrams in virtual time (`virtualReplicationSource`) as well as on a real `pg` connection.
 */
import type { Observable } from 'rxjs'
import type { Lsn } from './lsn.js'
import type { Row } from './types.js'

/** A transaction starts; its changes follow, then its commit. */
export interface BeginMessage {
  readonly kind: 'begin'
  /** The LSN of the transaction's commit record (known at BEGIN: the server sends a transaction once committed). */
  readonly commitLsn: Lsn
  /** Commit time, in ms since the epoch. */
  readonly commitTime: number
  /**
   * When the server sent this message, in ms since the epoch, by the server's clock like `commitTime`: the
   * difference is how far behind the stream is, free of any skew between the two machines' clocks.
   */
  readonly sentAt: number
  readonly xid: number
}

/** One change to one table, as decoded from the server's message. */
export interface ChangeMessage {
  readonly kind: 'change'
  readonly op: 'insert' | 'update' | 'delete' | 'truncate'
  readonly schema: string
  readonly table: string
  /**
   * The table's OID (pgoutput's relation id). The name is the table's as of the change; the OID stays through
   * a rename, so a watched table's changes are known by it (`ServerFacts.tableOids`) whatever it is called.
   */
  readonly relation?: number | undefined
  readonly new?: Row | undefined
  readonly old?: Row | undefined
  readonly unchangedToast?: readonly string[] | undefined
  /**
   * Columns that held a value of a type the catalog no longer has (dropped since the change was written), as
   * `column "name" (type oid N)`: their values are the server's text, not what they were, and the change is
   * refused.
   */
  readonly undecodable?: readonly string[] | undefined
  readonly cascade?: boolean | undefined
  readonly restartIdentity?: boolean | undefined
}

export interface CommitMessage {
  readonly kind: 'commit'
  readonly commitLsn: Lsn
  /** The LSN just past the commit record: confirming it tells the slot the transaction is done. */
  readonly endLsn: Lsn
}

/** The server's keepalive: how far it has decoded, and whether it wants a status update at once. */
export interface KeepaliveMessage {
  readonly kind: 'keepalive'
  readonly walEnd: Lsn
  readonly replyRequested: boolean
}

/** The server confirmed START_REPLICATION: messages follow. */
export interface StartedMessage {
  readonly kind: 'started'
}

export type ReplicationMessage = BeginMessage | ChangeMessage | CommitMessage | KeepaliveMessage

/** The slot as `pg_replication_slots` shows it. */
export interface SlotFacts {
  readonly slotType: string
  readonly plugin: string | null
  readonly database: string | null
  readonly active: boolean
  readonly activePid?: number | undefined
  readonly confirmedFlush?: Lsn | undefined
  /** PostgreSQL invalidated the slot (`wal_status = lost`, or an invalidation reason on PG 17+). */
  readonly lost: boolean
  /** What the server said about the invalidation (`wal_status`, `invalidation_reason`). */
  readonly lostDetail?: string | undefined
}

/** What a session learned about the server before streaming: enough to refuse to start, with the reason. */
export interface ServerFacts {
  /** `server_version_num`, e.g. 180004. */
  readonly serverVersion: number
  /** The cluster's system identifier (IDENTIFY_SYSTEM): tokens are tagged with it. */
  readonly systemId: string
  readonly database: string
  readonly walLevel: string
  /** The server's current WAL position. */
  readonly currentLsn: Lsn
  readonly publicationExists: boolean
  /**
   * The publication's tables, as `pg_publication_tables` lists them: a partitioned table's partitions rather
   * than the table itself unless the publication has `publish_via_partition_root`. Each is named as `tables`
   * names it, and as rxpg names a table back: `schema.table`, or `"a.b".c` for a name holding a dot
   * (table-names.ts, `tableNameText`).
   */
  readonly publishedTables: readonly string[]
  /** The publication has `publish_via_partition_root = true` (PostgreSQL 13+). Undefined: false. */
  readonly publishViaPartitionRoot?: boolean | undefined
  /** The tables the stream asked for that are partitioned, named as `publishedTables`. Undefined: none. */
  readonly partitionedTables?: readonly string[] | undefined
  /**
   * The tables the stream asked for that do not exist (renamed, moved to another schema or dropped since, or
   * never created), named as `publishedTables`. Undefined: none.
   */
  readonly missingTables?: readonly string[] | undefined
  /**
   * The OID of each table the stream asked for that exists, by its name as `publishedTables` names it: while
   * streaming, a change of that OID under another name (the table renamed since) is the watched table's.
   * Undefined: none known (changes are matched by name only).
   */
  readonly tableOids?: Readonly<Record<string, number>> | undefined
  /** Undefined when the slot does not exist. */
  readonly slot?: SlotFacts | undefined
}

/** A standby status update: what the client has received (`written`) and processed (`flushed`). */
export interface StatusUpdate {
  readonly written: Lsn
  readonly flushed: Lsn
  /** Ask the server to answer at once (a keepalive): a liveness probe. */
  readonly replyRequested: boolean
}

/**
 * A replication connection, open and checked, not yet streaming. `start` runs START_REPLICATION once.
 */
export interface ReplicationSession {
  /** Backend process id of the WAL sender. */
  readonly processId: number
  readonly facts: ServerFacts
  /**
   * Starts streaming from `from` (0: the slot's confirmed position). Emits `started` once the server confirms,
   * then every message in order; errors when the connection is lost or the server refuses (the error as the
   * driver gave it, for the stream to classify). Must be consumed synchronously: a message's rows may refer to
   * buffers the driver reuses.
   */
  start(from: Lsn): Observable<ReplicationMessage | StartedMessage>
  /** Sends a standby status update now. */
  sendStatus(update: StatusUpdate): void
  /** Stops reading from the socket (flow control); status updates still go out. */
  pause(): void
  /**
   * Stops reading once what the socket holds now has been read (the reads ready in this turn of the event
   * loop): the stream then waits a moment so that the next read carries more. `resume` starts reading again.
   */
  pauseAfterReads(): void
  resume(): void
  /** When the connection last received anything from the server, by the clock given to `connect`. */
  lastReceivedAt(): number
  /** Closes the connection without waiting on a silent server; idempotent. */
  end(): Promise<void>
}

/**
 * Opens replication connections for one slot and publication. `connect(clock)` emits one checked session, or
 * errors (with the driver's error, or a typed rxpg error). Unsubscribing closes the connection at once. The
 * stream owns retries.
 */
export interface ReplicationSource {
  connect(clock: () => number): Observable<ReplicationSession>
  /**
   * The publication as the server has it now (read on an ordinary connection, not a replication one): a running
   * stream asks every `recheckInterval`, since a publication dropped under it fails nothing on the server's side
   * (pgoutput skips it). Emits once, or errors; a source without it is not checked.
   */
  publication?(): Observable<PublicationFacts>
}

/** What a stream checks of its publication: the facts the start check reads about it. */
export type PublicationFacts = Pick<ServerFacts, 'serverVersion' | 'database' | 'publicationExists' | 'publishedTables' | 'partitionedTables' | 'missingTables' | 'publishViaPartitionRoot' | 'tableOids'>
