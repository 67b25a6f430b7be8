/**
 * `rxpg sql <feature>`: prints the SQL a feature installs, for migrations (`rxpg sql durable | psql`).
 */
import { Option, type Command } from 'commander'
import { changeFeedSql, changeFeedSqlFor, type ChangeConditions, type ChangeFeedSpec, type ChangeOp } from '../../changes/index.js'
import { changeFeedDropSql } from '../../changes/feed-sql.js'
import { DEFAULT_SCHEMA, durableSchemaSql } from '../../durable/index.js'
import { databaseUrlOf, withDatabaseOption, type DatabaseOptions } from '../database-option.js'
import { withBoundedClient } from '../bounded-client.js'
import type { CliOutput } from '../program.js'
import { withTimeoutOption, type TimeoutOptions } from '../timeout-option.js'
import { listOption } from '../repeated-options.js'
import { UsageError } from '../exit-codes.js'

export function registerSqlCommand(program: Command, output: CliOutput): void {
  const sql = program.command('sql').description('Print the SQL that installs a feature (for your migrations).')
  sql
    .command('durable')
    .description('The tables and functions of durable channels (rxpg/durable): idempotent, versioned.')
    .option('--schema <name>', 'the schema to install into', DEFAULT_SCHEMA)
    .action((options: { schema: string }) => {
      output.out(durableSchemaSql({ schema: options.schema }))
    })
  registerChangesSql(sql, output)
}

interface ChangesSqlOptions extends DatabaseOptions, TimeoutOptions {
  readonly table: string[]
  readonly name?: string | undefined
  readonly feedSchema?: string | undefined
  readonly carrier?: string | undefined
  readonly ops?: string[] | undefined
  readonly columns?: string[] | undefined
  readonly old?: string | undefined
  readonly when?: string | undefined
  readonly whenInsert?: string | undefined
  readonly whenUpdate?: string | undefined
  readonly whenDelete?: string | undefined
  readonly key?: string[] | undefined
  readonly level?: string | undefined
  readonly reportUnchangedUpdates?: boolean | undefined
  readonly logSchema?: string | undefined
  readonly partitions?: string | undefined
  readonly wakeWindow?: string | undefined
  readonly drop?: boolean | undefined
}

function registerChangesSql(sql: Command, output: CliOutput): void {
  withDatabaseOption(
    withTimeoutOption(
      sql
        .command('changes')
        .description("A table's change feed (rxpg/changes): its trigger function and triggers, idempotent; --drop for the SQL that removes it.")
        .addOption(listOption('--table <table>', 'the table: orders, public.orders, "Sales"."Orders"; given more than once, the SQL of each feed in turn', false).makeOptionMandatory())
        .option('--name <feed>', "the feed's name (default: the table's)")
        .option('--feed-schema <schema>', "the schema of the feed's function and channel (default: the table's; a table moved with SET SCHEMA keeps its feed with the schema it moved from)")
        .addOption(new Option('--carrier <carrier>', 'how changes travel').choices(['durable', 'light']).default('durable'))
        .addOption(listOption('--ops <ops>', 'the operations reported, comma-separated (default: insert,update,delete)'))
        .addOption(listOption('--columns <columns>', 'the columns carried, comma-separated, exact names (default: the whole row)'))
        .addOption(new Option('--old <what>', 'what updates and deletes carry of the old row').choices(['row', 'key']))
        .option('--when <condition>', 'an SQL condition for every op, with NEW and OLD as in a trigger')
        .option('--when-insert <condition>', 'the condition for inserts')
        .option('--when-update <condition>', 'the condition for updates')
        .option('--when-delete <condition>', 'the condition for deletes')
        .addOption(listOption('--key <columns>', "the columns that identify a row, comma-separated (default: the table's primary key, read through --url or DATABASE_URL)"))
        .addOption(new Option('--level <level>', 'durable feeds: statement-level (inserts and deletes) or row-level triggers').choices(['statement', 'row']))
        .option('--report-unchanged-updates', 'report updates that leave every carried column as it was')
        .option('--log-schema <name>', 'durable feeds: the schema of the durable log')
        .option('--partitions <count>', "durable feeds: the channel's consumer-group partitions")
        .option('--wake-window <ms>', 'durable feeds: at most one wake-up NOTIFY per this many ms')
        .option('--drop', 'print the SQL that removes the feed instead'),
      'reading the primary key: give up when the server has not answered within this long',
    ),
  ).action(async (options: ChangesSqlOptions) => {
    // What names one table's columns or feed cannot be said of several.
    if (options.table.length > 1) {
      const single = (['name', 'key', 'columns'] as const).find((option) => options[option] !== undefined)
      if (single !== undefined) throw new UsageError(`--${single} applies to one table; give it with a single --table (one command per table)`)
    }
    const specs = options.table.map((table) => specOf(options, table))
    if (options.drop) return void output.out(specs.map((spec) => changeFeedDropSql(spec)).join(''))
    if (specs.every((spec) => spec.key !== undefined)) return void output.out(specs.map((spec) => changeFeedSql(spec).install).join(''))
    const url = databaseUrlOf(options, "no key: pass --key, or --url (or DATABASE_URL) to read the table's primary key")
    // Every table's key is read on one connection, and nothing is printed unless all can be.
    const sql = await withBoundedClient(url, options.timeout, 'to read the primary key', async (client) => {
      const feeds: string[] = []
      for (const spec of specs) feeds.push((await changeFeedSqlFor(client, spec)).install)
      return feeds
    })
    output.out(sql.join(''))
  })
}

const number = (text: string | undefined) => (text === undefined ? undefined : Number(text))

function specOf(options: ChangesSqlOptions, table: string): ChangeFeedSpec {
  const ops = options.ops as ChangeOp[] | undefined
  const perOp: ChangeConditions = { insert: options.whenInsert, update: options.whenUpdate, delete: options.whenDelete }
  const anyPerOp = Object.values(perOp).some((condition) => condition !== undefined)
  // --when alone is the library's one condition for every reported op (and is refused with its words). With
  // per-op conditions it fills the ops they leave; a per-op condition is kept as given, so that one for an op
  // the feed does not report is refused (as the library refuses it) rather than dropped.
  const when: ChangeFeedSpec['when'] =
    !anyPerOp && options.when !== undefined
      ? options.when
      : (Object.fromEntries(
          (['insert', 'update', 'delete'] as const)
            .map((op) => [op, perOp[op] ?? (ops === undefined || ops.includes(op) ? options.when : undefined)])
            .filter(([, condition]) => condition !== undefined),
        ) as ChangeConditions)
  const given = {
    table,
    name: options.name,
    feedSchema: options.feedSchema,
    carrier: options.carrier as ChangeFeedSpec['carrier'],
    ops,
    columns: options.columns,
    old: options.old as ChangeFeedSpec['old'],
    when: typeof when === 'string' || Object.keys(when ?? {}).length > 0 ? when : undefined,
    key: options.key,
    level: options.level as ChangeFeedSpec['level'],
    skipUnchangedUpdates: options.reportUnchangedUpdates ? false : undefined,
    logSchema: options.logSchema,
    partitions: number(options.partitions),
    wakeWindow: number(options.wakeWindow),
  }
  return Object.fromEntries(Object.entries(given).filter(([, value]) => value !== undefined)) as unknown as ChangeFeedSpec
}
