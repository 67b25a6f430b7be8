import type pg from 'pg'
import type { SchedulerLike } from 'rxjs'
import type { DecodeError, Decoder, Either, PgListener } from '../index.js'
import type { DurableLog, StartPosition } from '../durable/index.js'

/** What happened to a row. */
export type ChangeOp = 'insert' | 'update' | 'delete'

/**
 * How changes travel from the trigger to readers.
 *
 * - `'durable'`: the trigger appends each change to the durable log (rxpg/durable): any size, replayable from a
 *   token, and no NOTIFY per row or per transaction (at most one wake-up per `wakeWindow`, cluster-wide).
 * - `'light'`: the trigger NOTIFYs each change itself when it fits in 7999 bytes, and otherwise only its key
 *   (the reader then reads the row). No tables, at most once, and every writing transaction NOTIFYs.
 */
export type ChangeCarrier = 'durable' | 'light'

/** SQL conditions evaluated in the database, with `NEW` and `OLD` as in a trigger's `WHEN`, per operation. */
export interface ChangeConditions {
  readonly insert?: string | undefined
  readonly update?: string | undefined
  readonly delete?: string | undefined
}

/**
 * A table's change feed: what its triggers capture and how they carry it. The same object generates the SQL
 * (`changeFeedSql`, `rxpg sql changes`) and is checked against what is installed when a feed is read.
 */
export interface ChangeFeedSpec {
  /**
   * The table, with PostgreSQL's rules for names: `orders`, `public.orders`, `"Sales"."Orders"` (unquoted
   * names fold to lower case; without a schema, `public`).
   */
  readonly table: string
  /** The feed's name, unique among the feeds of its schema (`feedSchema`). Default: the table's name. */
  readonly name?: string | undefined
  /**
   * The feed's schema: where its trigger function and wake sequence are, and the first part of its channel's name
   * (`changes:<feedSchema>.<name>`). Default: the table's schema. A table moved to another schema since its feed was
   * installed (`ALTER TABLE … SET SCHEMA`) keeps its feed, and the feed its channel, with the schema it moved from.
   */
  readonly feedSchema?: string | undefined
  /** Default `'durable'`. */
  readonly carrier?: ChangeCarrier | undefined
  /** The operations reported. Default all three. */
  readonly ops?: readonly ChangeOp[] | undefined
  /** The columns `new` and `old` carry (exact, case-sensitive names). Default: every column of the row. */
  readonly columns?: readonly string[] | undefined
  /** `'row'` (default): updates and deletes carry the old row too. `'key'`: only its key (the smallest deletes). */
  readonly old?: 'row' | 'key' | undefined
  /** A condition for every operation, or one per operation (`NEW`/`OLD` as in a trigger's `WHEN`). */
  readonly when?: string | ChangeConditions | undefined
  /**
   * The columns that identify a row, in order (exact names). Default: the table's primary key, read from the
   * database (`changeFeedSql` itself never connects, so it needs them given).
   */
  readonly key?: readonly string[] | undefined
  /**
   * `'statement'` (default for the durable carrier): inserts and deletes are written by statement-level
   * triggers with transition tables, one `INSERT … SELECT` per statement (cheaper per row for multi-row
   * statements). `'row'`: one trigger call per row. Updates are always row-level; the light carrier is always `'row'`.
   * On a partition, or a table with an inheritance parent or children, inserts and deletes are row-level whatever
   * the level (decided when the SQL is applied): statement-level triggers there miss the rows written through a
   * parent, and a parent's see its children's rows.
   */
  readonly level?: 'statement' | 'row' | undefined
  /** Default `true`: an UPDATE that leaves every carried column byte for byte as it was is not reported. */
  readonly skipUnchangedUpdates?: boolean | undefined
  /** Durable carrier: the schema of the durable log the changes go to. Default `'rxpg'`. */
  readonly logSchema?: string | undefined
  /** Durable carrier: consumer-group partitions of the feed's channel (a change goes to its key's). Default 16. */
  readonly partitions?: number | undefined
  /** Durable carrier: at most one wake-up NOTIFY per this many ms, from whichever writer is first. Default 5. */
  readonly wakeWindow?: number | undefined
}

/** A JSON value, as rows are carried. */
export type JsonValue = string | number | boolean | null | readonly JsonValue[] | { readonly [key: string]: JsonValue }

/** A row (or a key) in its JSON form: column name → value (see docs/changes.md for each type's form). */
export type JsonRow = { readonly [column: string]: JsonValue }

/** One change of a table, with `new` and `old` decoded by the feed's codec (failures as values, as `decode` gives them). */
export interface TableChange<T> {
  readonly op: ChangeOp
  readonly schema: string
  readonly table: string
  /** The row's key columns. For an update that changed them, the new ones (the old ones are `previousKey`). */
  readonly key: JsonRow
  /** Present for an update that changed the key: the key before it. */
  readonly previousKey?: JsonRow | undefined
  /** The row after an insert or update. */
  readonly new?: Either<DecodeError, T> | undefined
  /** The row before an update or delete (absent with `old: 'key'`). */
  readonly old?: Either<DecodeError, T> | undefined
  /** Durable carrier: the resume token of this change (pass it as `from` to continue after it). */
  readonly token?: string | undefined
  /** When the statement that made the change started (`statement_timestamp()`, the server's clock). */
  readonly statementTime: Date
  /**
   * Light carrier only: the change was larger than a notification can carry (7999 bytes), so only its key was
   * sent. `'fetched'`: `new` is the row as rxpg read it when the notification arrived, which may be later than
   * the change (and there is no `old`). `'gone'`: the row was not there to read (deleted since, or the change
   * was a delete), so there is no `new` or `old`. `'no-key'`: even the key did not fit: only `op` is known.
   */
  readonly overflow?: 'fetched' | 'gone' | 'no-key' | undefined
}

/** A change whose rows decoded (see `validChanges`). */
export interface ValidTableChange<T> extends Omit<TableChange<T>, 'new' | 'old'> {
  readonly new?: T | undefined
  readonly old?: T | undefined
}

/** What `tableChanges` reads from. */
export interface ChangeSource {
  /** Notifications of light feeds, wake-ups and reconnect gaps of durable ones. */
  readonly listener: Pick<PgListener, 'channel' | 'state$' | 'notify'>
  /** Checks the feed in the catalog, and reads rows of light changes too large for a notification. Not closed by rxpg. */
  readonly pool: pg.Pool
  /**
   * The durable log durable feeds are read from (its schema must be the feed's `logSchema`). Default: one
   * opened on `listener` and `pool` for each subscription, and closed with it.
   */
  readonly log?: DurableLog | undefined
  /**
   * Runs every timer of the read: the second read one wake window after a wake-up, the pauses before a retried
   * read of a row too large for a notification, and those of the durable log opened for the subscription (a
   * `log` given keeps its own). Default `asyncScheduler`.
   */
  readonly scheduler?: SchedulerLike | undefined
}

/**
 * What `tableChanges` reads: the feed (its table, and any spec field you want checked against what is
 * installed: the others are taken from the installed feed), the codec of its rows, and for a durable feed
 * where to start.
 */
export interface TableChangesOptions<D = Decoder<JsonRow>> extends ChangeFeedSpec {
  /**
   * Decodes `new` and `old`: a Standard Schema (zod, valibot, …), an io-ts style `{ decode }`, or a function
   * returning an `Either`. Without it, rows are given in their JSON form (as `Right`s).
   */
  readonly row?: D | undefined
  /** Durable carrier: after a token, `'earliest'`, or `'now'` (default). */
  readonly from?: StartPosition | undefined
  /**
   * While reading, how often (ms) the feed is checked in the catalog: the stream fails with
   * `ChangeFeedNotInstalledError` once the feed was dropped, its table dropped, or its SQL applied again with the
   * other carrier (its changes no longer come on the channel read). Default 30000; `false`: never.
   */
  readonly recheckInterval?: number | false | undefined
}

/** Where `consumeChanges` reads: the durable log the feed writes to, and a pool for the catalog check and column types. */
export interface ChangeConsumerSource {
  /** The durable log of the feed (its schema must be the feed's `logSchema`); its consumer groups carry the work. Not closed by rxpg. */
  readonly log: DurableLog
  /** Checks the feed in the catalog and reads the table's column types. Not closed by rxpg. */
  readonly pool: pg.Pool
  /** Runs the pauses before a retried read of the table's column types. Default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike | undefined
}

/** What `consumeChanges` consumes: a durable feed (its table, and any spec field you want checked) and the codec of its rows. */
export interface ConsumeChangesOptions<D = Decoder<JsonRow>> extends ChangeFeedSpec {
  /** Decodes `new` and `old`, as for `tableChanges`; without it, rows are given in their JSON form (as `Right`s). */
  readonly row?: D | undefined
}

/** A batch of changes, handled in the transaction that advances the group's cursor: write through `client` for exactly-once effects. */
export type ChangesHandler<T> = (changes: ReadonlyArray<TableChange<T>>, client: pg.PoolClient) => Promise<void> | void
