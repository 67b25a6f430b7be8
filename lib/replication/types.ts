import type { ConnectionLostError, ConnectionRejectedError } from '../errors.js'
import type { ChangeDecodeError, InvalidReplicationTokenError, ReplicationSetupError, ResumeImpossibleError, SlotInUseError } from './errors.js'

/** A row as the server sent it: column name → value, parsed with pg's type parsers (those of the config's `types`). */
export type Row = Readonly<Record<string, unknown>>

/** What every change carries, whatever its operation. */
export interface ChangeCommon<Schema extends string = string, Table extends string = string> {
  readonly schema: Schema
  readonly table: Table
  /**
   * Where this change is in the stream: an opaque token. Acknowledge it (`stream.ack(position)`) once the
   * change is processed; store it to resume after it (`resumeAfter`), exactly after this change.
   */
  readonly position: string
  /** The LSN of the transaction's commit record, as PostgreSQL prints it (`16/B374D848`). */
  readonly commitLsn: string
  /** When the transaction committed (the server's clock); the same object for every change of the transaction. */
  readonly commitTime: Date
  /** The transaction's id. */
  readonly xid: number
  /** True for the last change of its transaction that this stream delivers: commit your own effects here. */
  readonly lastInTransaction: boolean
}

export interface InsertChange<R = Row, S extends string = string, T extends string = string> extends ChangeCommon<S, T> {
  readonly op: 'insert'
  readonly new: R
  readonly old?: undefined
}

export interface UpdateChange<R = Row, S extends string = string, T extends string = string> extends ChangeCommon<S, T> {
  readonly op: 'update'
  /**
   * The row after the update. A TOAST-ed column the update did not change is sent by PostgreSQL as "unchanged"
   * without its value: it is taken from `old` when the table has `REPLICA IDENTITY FULL`; otherwise it is left
   * out of `new` and named in `unchangedToast` (never `null`, which would be a different value).
   */
  readonly new: R
  /** The old row (`REPLICA IDENTITY FULL`) or the old key (when the update changed the key); raw, not decoded. */
  readonly old?: Row | undefined
  /** Columns left out of `new` because PostgreSQL sent them as unchanged TOAST without a value. */
  readonly unchangedToast?: readonly string[] | undefined
}

export interface DeleteChange<S extends string = string, T extends string = string> extends ChangeCommon<S, T> {
  readonly op: 'delete'
  readonly new?: undefined
  /** The deleted row's key (`REPLICA IDENTITY DEFAULT`) or the whole row (`FULL`); raw, not decoded. */
  readonly old: Row
}

export interface TruncateChange<S extends string = string, T extends string = string> extends ChangeCommon<S, T> {
  readonly op: 'truncate'
  readonly new?: undefined
  readonly old?: undefined
  readonly cascade: boolean
  readonly restartIdentity: boolean
}

/** One committed change to one table. One TRUNCATE of several tables is one change per table. */
export type Change<R = Row, S extends string = string, T extends string = string> =
  | InsertChange<R, S, T>
  | UpdateChange<R, S, T>
  | DeleteChange<S, T>
  | TruncateChange<S, T>

/**
 * A position between transactions, delivered while the watched tables are idle but the server's WAL moves on
 * (other tables, other databases). It carries no data; acknowledge it like a change (and store it, if you
 * store positions) so that the slot can release the WAL behind it. Without it an idle stream would pin WAL
 * for as long as the watched tables stay idle.
 */
export interface Checkpoint {
  readonly op: 'checkpoint'
  readonly position: string
  /** The WAL position it stands for, as PostgreSQL prints it. */
  readonly lsn: string
}

/** Everything `changes$` emits: changes, and checkpoints while the watched tables are idle. */
export type StreamItem<C> = C | Checkpoint

/** One committed transaction's changes, delivered at its commit (`transactions$`). */
export interface Transaction<C> {
  readonly xid: number
  readonly commitLsn: string
  readonly commitTime: Date
  /** The position of its last change: acknowledging it acknowledges the whole transaction. */
  readonly position: string
  readonly changes: readonly C[]
}

/** True for the checkpoints that `changes$` and `transactions$` deliver between transactions. */
export function isCheckpoint(item: unknown): item is Checkpoint {
  return typeof item === 'object' && item !== null && (item as { op?: unknown }).op === 'checkpoint'
}

/** Why a stream stopped for good. */
export type ReplicationFailure =
  | ConnectionRejectedError
  | ReplicationSetupError
  | SlotInUseError
  | ResumeImpossibleError
  | InvalidReplicationTokenError
  | ChangeDecodeError

/**
 * The life of the replication connection, as `state$` shows it, in the style of the listener's.
 *
 * `idle` until `changes$` or `transactions$` is subscribed (and again after the last subscriber leaves);
 * `connecting` (opening the connection, checking the server, the publication and the slot, starting
 * replication); `connected` once the server streams; `reconnecting` after a transient failure, until the next
 * attempt (at once after losing a working connection, then with back-off); `failed` for a reason retrying
 * cannot fix; `closed` after `close()`.
 */
export type ReplicationState =
  | { readonly status: 'idle' }
  | { readonly status: 'connecting'; readonly attempt: number }
  | {
      readonly status: 'connected'
      /** Backend process id of the WAL sender. */
      readonly processId: number
      /** Where streaming started, as PostgreSQL prints it. */
      readonly startLsn: string
    }
  | {
      readonly status: 'reconnecting'
      readonly attempt: number
      /** The back-off delay before this attempt, in ms. */
      readonly delay: number
      readonly lastError: ConnectionLostError | SlotInUseError
    }
  | { readonly status: 'failed'; readonly error: ReplicationFailure }
  | { readonly status: 'closed' }

export type ReplicationStatus = ReplicationState['status']

/** Counters and positions of one change stream. */
export interface ReplicationMetricsSnapshot {
  /** Changes received from the server (before the `tables` filter). */
  readonly received: number
  /**
   * Committed transactions received, the `tables` filter aside. Before PostgreSQL 15 pgoutput sends every
   * transaction that wrote to the database, those without a change to a published table included (as a begin
   * and a commit); from 15 on it skips those. So the count depends on the server's version.
   */
  readonly transactions: number
  /** Changes and checkpoints delivered to subscribers (not refused changes passed to `onInvalid`). */
  readonly delivered: number
  /** Delivered changes and checkpoints acknowledged. */
  readonly acknowledged: number
  /** Delivered and not yet acknowledged (what `maxUnacknowledged` bounds; refused changes passed to `onInvalid` are not counted). */
  readonly unacknowledged: number
  /** Rows a table's decoder refused (with `onInvalid`: counted as each is passed to it). */
  readonly decodeFailures: number
  /** Connections lost and recovered (one per outage). */
  readonly reconnects: number
  /** Connection attempts after a loss or a failed attempt. */
  readonly reconnectAttempts: number
  /** Standby status updates sent to the server. */
  readonly statusUpdates: number
  /** True while reading is paused because `maxUnacknowledged` is reached. */
  readonly paused: boolean
  /** Windows in which reading waited for more to arrive because the stream was behind (`gatherReads`). */
  readonly gatheredReads: number
  /** The furthest WAL position the server has reported decoding, as `X/Y`. */
  readonly serverLsn: string
  /**
   * Where acknowledgements put the slot, as `X/Y`: the flush position they amount to (the last acknowledged
   * position's resume LSN), starting from `resumeAfter`'s and never below the slot's own when a session opened.
   * Ahead of `confirmedLsn` while they have not been reported: while connected, until the next status update;
   * while idle or failed, until a short session reports them (`statusInterval` after the acknowledgement, or at
   * `close()`); while reconnecting, until the next session's first status update, or `close()`.
   */
  readonly acknowledgedLsn: string
  /**
   * The slot's confirmed flush position as far as the stream knows, as `X/Y`: read from the slot when a session
   * opens, raised by each status update sent on it, and set by each report of acknowledgements made while no
   * session was open once the server has answered it. `0/0` until a session has read the slot.
   */
  readonly confirmedLsn: string
  /**
   * Bytes of WAL between the server's position, as far as the stream has read, and the position confirmed to
   * the slot. It grows while acknowledgements lag or checkpoints are not acknowledged, but not while the stream
   * is paused (`maxUnacknowledged`): it reads nothing then, so the server's position it knows stands still.
   * `readSlotStatus()` gives the server's own view (`unconfirmedBytes`).
   */
  readonly lagBytes: number
}

export interface ReplicationMetrics {
  snapshot(): ReplicationMetricsSnapshot
}
