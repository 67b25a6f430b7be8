/**
 * The typed errors of change feeds. Each has a stable `code`, an `info` object of facts (`detail`,
 * `sqlState`, `systemCode` for what the driver or server said, with the driver's error as `cause`), and a
 * message that says what to do, naming the SQL to run where SQL is the fix. None carries a password.
 */
import { RxpgError } from '../index.js'

/** A spec that cannot be turned into SQL: a bad name, an unknown op, an option of the other carrier, … */
export class InvalidChangeFeedError extends RxpgError {
  override readonly name = 'InvalidChangeFeedError'
  readonly code = 'CHANGES_INVALID_FEED'
  constructor(readonly info: { readonly table: string; readonly detail: string }) {
    super(`Invalid change feed for table ${JSON.stringify(info.table)}: ${info.detail}.`)
  }
}

export type FeedNotInstalledReason = 'no-table' | 'missing' | 'different' | 'disabled'

/**
 * The feed cannot be read as asked: the table does not exist (`no-table`), its trigger function or a trigger
 * is not there (`missing`), what is installed was generated from another spec (`different`, with the fields in
 * `differences`), or a trigger is disabled (`disabled`). The message names the SQL that fixes it.
 */
export class ChangeFeedNotInstalledError extends RxpgError {
  override readonly name = 'ChangeFeedNotInstalledError'
  readonly code = 'CHANGES_NOT_INSTALLED'
  constructor(
    readonly info: {
      /** The table, as a quoted SQL name. */
      readonly table: string
      readonly feed: string
      readonly reason: FeedNotInstalledReason
      /** The command that prints the feed's SQL (`npx rxpg sql changes …`). */
      readonly command: string
      /** `different`: the spec fields whose installed value is another. */
      readonly differences?: readonly string[] | undefined
      /** `disabled`: the triggers that are disabled. */
      readonly disabledTriggers?: readonly string[] | undefined
      readonly detail: string
    },
  ) {
    super(`${describe(info)} ${fixFor(info)}`)
  }
}

function describe(info: ChangeFeedNotInstalledError['info']): string {
  const feed = `Change feed ${JSON.stringify(info.feed)} on ${info.table}`
  switch (info.reason) {
    case 'no-table':
      return `Table ${info.table} does not exist (${info.detail}).`
    case 'missing':
      return `${feed} is not installed (${info.detail}).`
    case 'different':
      return info.differences === undefined || info.differences.length === 0
        ? `${feed} is not installed as asked (${info.detail}).`
        : `${feed} was installed from another spec: ${info.differences.join(', ')} ${info.differences.length === 1 ? 'differs' : 'differ'} (${info.detail}).`
    case 'disabled':
      return `${feed} has disabled triggers: ${info.disabledTriggers?.join(', ')}.`
  }
}

function fixFor(info: ChangeFeedNotInstalledError['info']): string {
  if (info.reason === 'no-table') return 'Create it first, or fix the name.'
  if (info.reason === 'disabled') return `Enable them (${(info.disabledTriggers ?? []).map((trigger) => `ALTER TABLE ${info.table} ENABLE TRIGGER "${trigger.replaceAll('"', '""')}"`).join('; ')}), or install the feed again: \`${info.command}\`.`
  return `Install it with \`${info.command}\` (or your migration tool), or installChangeFeed(pool, spec) in development.`
}

/** The table has no primary key, and no `key` columns were given: nothing identifies a row. */
export class NoPrimaryKeyError extends RxpgError {
  override readonly name = 'NoPrimaryKeyError'
  readonly code = 'CHANGES_NO_PRIMARY_KEY'
  constructor(readonly info: { readonly table: string }) {
    super(
      `Table ${info.table} has no primary key: a change feed needs the columns that identify a row. Add one (ALTER TABLE ${info.table} ADD PRIMARY KEY (…)), or name unique, non-null columns as the feed's key (key: [...], or --key with rxpg sql changes).`,
    )
  }
}

/** The server is older than the version a feature needs. */
export class ChangesUnsupportedServerError extends RxpgError {
  override readonly name = 'ChangesUnsupportedServerError'
  readonly code = 'CHANGES_UNSUPPORTED_SERVER'
  constructor(readonly info: { readonly feature: string; readonly serverVersionNum: number; readonly minimumVersionNum: number }) {
    super(
      `${info.feature} need PostgreSQL ${Math.floor(info.minimumVersionNum / 10000)} or later (server_version_num ${info.minimumVersionNum}); this server is ${info.serverVersionNum}. Upgrade the server.`,
    )
  }
}

/** A catalog query, an install, or the read of a row too large for a notification failed: refused by the server, or with no connection (`info.systemCode`), which a retry may fix. */
export class ChangesQueryFailedError extends RxpgError {
  override readonly name = 'ChangesQueryFailedError'
  readonly code = 'CHANGES_QUERY_FAILED'
  constructor(readonly info: { readonly operation: string; readonly detail: string; readonly sqlState?: string | undefined; readonly systemCode?: string | undefined }, options?: { cause?: unknown }) {
    super(`Change feed ${info.operation} failed: ${info.detail}${info.sqlState ? ` (SQLSTATE ${info.sqlState})` : ''}`, options)
  }
}
