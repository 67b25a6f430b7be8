/**
 * The typed errors of replication change streams. Each has a stable `code`, an `info` object of facts (what the
 * driver or server said under the shared keys `detail`, `sqlState` and `systemCode`), the driver's error as
 * `cause` (redacted), and a message that says what was wrong and what to do. None carries a password.
 */
import { RxpgError, type DriverFacts } from '../errors.js'
import type { OptionalFields } from '../types.js'
import { quoteName } from './sql-text.js'
import { readTableName, tableNameSql } from './table-names.js'

/** Why a change stream cannot start; each one names its fix. */
export type ReplicationSetupReason =
  | 'server-version'
  | 'wal-level'
  | 'max-wal-senders'
  | 'pooler'
  | 'command-refused'
  | 'replication-privilege'
  | 'publication-privilege'
  | 'publication-missing'
  | 'table-not-published'
  | 'table-missing'
  | 'replica-identity-missing'
  | 'partitioned-table-unsupported'
  | 'publish-via-partition-root-off'
  | 'slot-missing'
  | 'slot-not-pgoutput'
  | 'slot-other-database'
  | 'invalid-name'

/**
 * The server, the role, the publication or the slot is not set up for this change stream. Retrying cannot fix
 * it: the stream fails (`state$` `failed`) and the message says what to change.
 */
export class ReplicationSetupError extends RxpgError {
  override readonly name = 'ReplicationSetupError'
  readonly code = 'REPLICATION_SETUP'
  constructor(
    readonly info: DriverFacts & {
      readonly reason: ReplicationSetupReason
      readonly slot: string
      readonly publication: string
      /**
       * The table concerned (`table-not-published`, `table-missing`, `replica-identity-missing`,
       * `partitioned-table-unsupported`, `publish-via-partition-root-off`), named as `tables` names it:
       * `schema.table`, or `"a.b".c` for a schema or table name holding a dot.
       */
      readonly table?: string | undefined
      /** What was found instead: the `wal_level`, the server version (`PostgreSQL 11.22`), the slot's plugin or database, ... */
      readonly found?: string | undefined
    },
    options?: { cause?: unknown },
  ) {
    super(`${setupProblem(info)} ${setupFix(info)}`, options)
  }
}

type SetupInfo = ReplicationSetupError['info']

function setupProblem(info: SetupInfo): string {
  const slot = JSON.stringify(info.slot)
  const publication = JSON.stringify(info.publication)
  switch (info.reason) {
    case 'server-version':
      return `Logical replication change streams need PostgreSQL 12 or later; this server is ${info.found}.`
    case 'wal-level':
      return `The server's wal_level is ${info.found}; logical decoding needs wal_level = logical.`
    case 'max-wal-senders':
      return `The server allows no replication connections (${info.detail}).`
    case 'pooler':
      return `The connection goes through a pooler, which passes no replication connection (${info.detail}).`
    case 'command-refused':
      return `The server refused a replication command (${info.sqlState}: ${info.detail}): the connection is not a replication connection (a proxy passed it on without the replication startup parameter), or the server does not have this command.`
    case 'replication-privilege':
      return `The role may not open a replication connection (${info.detail}).`
    case 'publication-privilege':
      return `The role may not create, change or drop publication ${publication} (${info.detail}).`
    case 'publication-missing':
      return `Publication ${publication} does not exist in this database.`
    case 'table-not-published':
      return `Table ${info.table} is not in publication ${publication}, so its changes never reach the slot.`
    case 'table-missing':
      return `Table ${info.table} does not exist: no table of this database has that schema and name (it was never created, or it was renamed, moved to another schema or dropped since), so there is nothing to publish or stream.`
    case 'replica-identity-missing':
      return `Table ${info.table} has no replica identity (${info.detail}): once it is published, every UPDATE and DELETE on it fails (55000), in every writer.`
    case 'partitioned-table-unsupported':
      return `Table ${info.table} is partitioned, and this server (${info.found}) cannot publish a partitioned table, only its partitions, whose changes are named after them; publishing them under the table's name needs PostgreSQL 13 or later (publish_via_partition_root).`
    case 'publish-via-partition-root-off':
      return `Table ${info.table} is partitioned, and publication ${publication} has publish_via_partition_root off: it publishes a partitioned table's changes under its partitions' names, so none arrive named ${info.table}.`
    case 'slot-missing':
      return `Replication slot ${slot} does not exist.`
    case 'slot-not-pgoutput':
      return `Replication slot ${slot} is not a logical slot of the pgoutput plugin (it is ${info.found}).`
    case 'slot-other-database':
      return `Replication slot ${slot} belongs to database ${JSON.stringify(info.found)}, not to the one connected to.`
    case 'invalid-name':
      return `Invalid name: ${info.detail}.`
  }
}

function setupFix(info: SetupInfo): string {
  const slotLiteral = `'${info.slot.replaceAll("'", "''")}'`
  switch (info.reason) {
    case 'server-version':
      return 'Upgrade the server.'
    case 'wal-level':
      return 'Run ALTER SYSTEM SET wal_level = logical and restart the server.'
    case 'max-wal-senders':
      return 'Set max_wal_senders (and max_replication_slots) to at least 1 and restart the server.'
    case 'pooler':
      return 'Connect the stream to PostgreSQL directly (its own host and port), not through PgBouncer or another pooler.'
    case 'command-refused':
      return 'Connect the stream to PostgreSQL directly (its own host and port), not through a proxy; if it is direct, report it with the server version: rxpg sent a command this server does not take.'
    case 'replication-privilege':
      return 'Grant it (ALTER ROLE <role> REPLICATION) or connect as a role that has it; keep it apart from the application role.'
    case 'publication-privilege':
      return 'A publication is created by a role that owns the tables (with CREATE on the database; FOR ALL TABLES: a superuser), the slot by a role with REPLICATION: run the statements of replicationSetupSql() in a migration as those roles.'
    case 'publication-missing':
      return 'Create it in a migration (replicationSetupSql() gives the statements), or with ensureReplication() in development.'
    case 'table-not-published':
      return `Add it (ALTER PUBLICATION ${quoteName(info.publication)} ADD TABLE ${sqlOf(info.table)}) or leave it out of \`tables\`.`
    case 'replica-identity-missing':
      return `Give it a primary key, or run ALTER TABLE ${sqlOf(info.table)} REPLICA IDENTITY FULL (updates and deletes then log the whole old row) or REPLICA IDENTITY USING INDEX on a unique index of NOT NULL columns, before publishing it; or leave it out of the publication.`
    case 'table-missing':
      return (
        'If it was renamed or moved (ALTER TABLE ... RENAME or SET SCHEMA), name it in `tables` as it is now and resume after the last position delivered: its publication keeps it under its new name, and a stream follows a table it watches through a rename, so nothing of it is lost. ' +
        'If it was dropped, leave it out of `tables` (a table created again under its name is in no publication until it is added again). ' +
        'If it is still to be created, create it first (its migration runs before this one). Names are exact: check the schema and the spelling.'
      )
    case 'partitioned-table-unsupported':
      return 'Upgrade to PostgreSQL 13 or later, or publish its partitions and name them in `tables`.'
    case 'publish-via-partition-root-off':
      return `Run ALTER PUBLICATION ${quoteName(info.publication)} SET (publish_via_partition_root = true) (it renames the changes of every partitioned table of the publication, for every reader), or name its partitions in \`tables\`.`
    case 'slot-missing':
      return `Create it in a migration (SELECT pg_create_logical_replication_slot(${slotLiteral}, 'pgoutput')), or with ensureReplication() in development. A slot created again after one was dropped starts at the server's current position: the changes written since the dropped one's last confirmed position are not in it (a stream resumed from a token of before is refused: ResumeImpossibleError token-behind-slot on the same server, or InvalidReplicationTokenError other-slot after a restore into another one).`
    case 'slot-not-pgoutput':
    case 'slot-other-database':
      return 'Use another slot name, or drop this slot if nothing else uses it, and create a pgoutput slot in this database.'
    case 'invalid-name':
      return (
        'Slot names are 1-63 lower-case letters, digits and underscores; publication names are non-empty. A table is written table (of schema public) or schema.table, spelled exactly (Sales.Orders); ' +
        'a schema or table name that holds a dot or a double quote is double-quoted, as in SQL ("a.b".c, a."b.c"), and the name is then read as SQL reads it.'
      )
  }
}

/** A table of `info.table` as SQL reads it (`public.orders`, `"Sales"."Orders"`), for the statements a message gives. */
function sqlOf(table: string | undefined): string {
  const read = readTableName(table)
  return 'problem' in read ? String(table) : tableNameSql(read)
}

/**
 * Another process is reading the slot (a slot has one reader at a time). While the other reader may be a
 * crashed consumer's WAL sender that has not noticed yet, the stream retries (`reconnecting` with this as
 * `lastError`), for at most `slotInUseTimeout`; then it fails with it.
 */
export class SlotInUseError extends RxpgError {
  override readonly name = 'SlotInUseError'
  readonly code = 'REPLICATION_SLOT_IN_USE'
  constructor(
    readonly info: DriverFacts & { readonly slot: string; readonly activePid?: number | undefined },
    options?: { cause?: unknown },
  ) {
    const pid = info.activePid === undefined ? 'another process' : `process ${info.activePid}`
    super(
      `Replication slot ${JSON.stringify(info.slot)} is in use by ${pid}: a slot has one reader at a time. Stop the other consumer; ` +
        `if it is gone, its WAL sender ends within wal_sender_timeout (or end it: SELECT pg_terminate_backend(${info.activePid ?? '<pid>'})). ` +
        'A second consumer needs a slot of its own.',
      options,
    )
  }
}

export type ResumeImpossibleReason = 'slot-lost' | 'token-behind-slot' | 'token-ahead-of-server'

/**
 * The stream cannot continue without losing changes, so it stops rather than restart from "now": the slot was
 * invalidated by PostgreSQL (`slot-lost`: the WAL it needed was removed, see `max_slot_wal_keep_size`), the
 * slot has confirmed past the resume token (`token-behind-slot`: another consumer advanced it, it was
 * recreated, or the token came from an older backup), or the token lies past the server's WAL
 * (`token-ahead-of-server`: a token of another server, or a database restored from an older backup).
 */
export class ResumeImpossibleError extends RxpgError {
  override readonly name = 'ResumeImpossibleError'
  readonly code = 'REPLICATION_RESUME_IMPOSSIBLE'
  constructor(
    readonly info: OptionalFields<DriverFacts> & {
      readonly reason: ResumeImpossibleReason
      readonly slot: string
      /** The resume token, when the stream was started with one. */
      readonly token?: string | undefined
      /** Where the resume token (or this stream) needed the slot to start, as `X/Y`. */
      readonly resumeLsn?: string | undefined
      /** The slot's confirmed flush position, as `X/Y`. */
      readonly slotLsn?: string | undefined
      /** The server's current WAL position, as `X/Y`. */
      readonly serverLsn?: string | undefined
    },
    options?: { cause?: unknown },
  ) {
    super(resumeProblem(info), options)
  }
}

function resumeProblem(info: ResumeImpossibleError['info']): string {
  const slot = JSON.stringify(info.slot)
  const start = 'rxpg does not restart from the current position on its own: '
  switch (info.reason) {
    case 'slot-lost':
      return (
        `Replication slot ${slot} was invalidated by PostgreSQL${info.detail ? ` (${info.detail})` : ''}: the WAL it needed was removed, so the changes since its position are gone. ` +
        start +
        'drop and create the slot, rebuild what you derive from the tables, and start again. Size max_slot_wal_keep_size for the longest outage you must survive, and well above a minute of the server\'s peak writes (a running stream\'s slot retains tens of seconds of them).'
      )
    case 'token-behind-slot':
      return (
        `The resume position ${info.resumeLsn} is behind slot ${slot}, which has confirmed up to ${info.slotLsn}: the changes in between are no longer available from it ` +
        '(another consumer advanced the slot, the slot was recreated, or the token comes from an older backup). ' +
        'If another run of this same consumer advanced it (two runs at once), read the position you store with your effects again and resume from it: nothing is lost. Otherwise, ' +
        start +
        'rebuild what you derive from the tables, or resume without a token from the slot\'s position if you accept the gap.'
      )
    case 'token-ahead-of-server':
      return (
        `The resume position ${info.resumeLsn} is past the server's WAL (${info.serverLsn}): the token comes from another server, or the database was restored from a backup older than it. ` +
        start +
        'rebuild what you derive from the tables, or resume without a token from the slot\'s position.'
      )
  }
}

export type InvalidReplicationTokenReason = 'malformed' | 'other-slot' | 'not-delivered'

/**
 * A resume token (or a position given to `ack`) rxpg cannot use: not a replication token (`malformed`), issued
 * for another slot or server (`other-slot`), or, for `ack`, a position this stream has not delivered
 * (`not-delivered`).
 */
export class InvalidReplicationTokenError extends RxpgError {
  override readonly name = 'InvalidReplicationTokenError'
  readonly code = 'REPLICATION_INVALID_TOKEN'
  constructor(readonly info: { readonly token: string; readonly reason: InvalidReplicationTokenReason; readonly detail: string }) {
    super(`Replication position ${JSON.stringify(info.token.slice(0, 120))} cannot be used (${info.reason}): ${info.detail}.`)
  }
}

/**
 * A row that the table's decoder refused. Without `onInvalid` the stream fails with it, so that no change is
 * skipped silently (resume from your last token once the decoder accepts the row); with `onInvalid` the change
 * goes there instead of to the stream, and a later acknowledgement covers it.
 */
export class ChangeDecodeError extends RxpgError {
  override readonly name = 'ChangeDecodeError'
  readonly code = 'REPLICATION_DECODE_FAILED'
  constructor(
    readonly info: {
      readonly schema: string
      readonly table: string
      /** `delete` only for a deleted row's key of a type dropped since. */
      readonly op: 'insert' | 'update' | 'delete'
      /**
       * The change's position. With `onInvalid`, acknowledge it once you have dealt with it (from inside
       * `onInvalid` or later): it acknowledges everything before it. Without, the stream stops here: resume after
       * your last position once the decoder accepts the row.
       */
      readonly position: string
      readonly messages: readonly string[]
    },
    options?: { cause?: unknown },
  ) {
    super(`The ${info.op} on ${info.schema}.${info.table} at ${info.position} did not decode: ${info.messages.join('; ')}`, options)
  }
}

/**
 * `close()` could not report acknowledgements made while no session was open (after the last subscriber left,
 * while reconnecting, after a failure) within `connectTimeout`: the server is down or does not answer, another
 * process holds the slot, or the slot is gone. The stream is closed all the same. The slot stays where it was
 * (`info.confirmedLsn`), behind what was acknowledged (`info.acknowledgedLsn`), so a stream started without
 * `resumeAfter` delivers the changes in between again (at least once); one started with `resumeAfter:
 * info.position` goes on exactly after them. `cause` is the last failure.
 */
export class AcknowledgementsNotReportedError extends RxpgError {
  override readonly name = 'AcknowledgementsNotReportedError'
  readonly code = 'REPLICATION_ACKS_NOT_REPORTED'
  constructor(
    readonly info: DriverFacts & {
      readonly slot: string
      /** Where the acknowledgements put the slot (the flush position they amount to), as `X/Y`. */
      readonly acknowledgedLsn: string
      /** The slot's confirmed position as the stream last knew it, as `X/Y`. */
      readonly confirmedLsn: string
      /** The last acknowledged position: store it and pass it as `resumeAfter` to go on after it. */
      readonly position: string
    },
    options?: { cause?: unknown },
  ) {
    super(
      `Acknowledgements were not reported to replication slot ${JSON.stringify(info.slot)} (${info.detail}): the slot stays at ${info.confirmedLsn}, ` +
        `behind the acknowledged ${info.acknowledgedLsn}, so a stream started without resumeAfter delivers the changes in between again. ` +
        'Resume with resumeAfter: error.info.position to go on after them, or let them come again (at least once).',
      options,
    )
  }
}

/**
 * An operation on a change stream after its `close()`: an acknowledgement then reaches no slot (no session
 * reports it any more). The position is not lost: store it and pass it as `resumeAfter` to the next stream.
 */
export class ReplicationStreamClosedError extends RxpgError {
  override readonly name = 'ReplicationStreamClosedError'
  readonly code = 'REPLICATION_STREAM_CLOSED'
  constructor(readonly info: { readonly operation: 'ack'; readonly position: string }) {
    super(
      `The change stream was closed before this ${info.operation} (position ${info.position}): it reaches no replication slot any more. Acknowledge before close(), or store the position and pass it as resumeAfter to the next stream.`,
    )
  }
}
