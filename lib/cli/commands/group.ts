/**
 * `rxpg group list <channel>`, `rxpg group lag <channel> <group>` and `rxpg group move <channel> <group> --to
 * <position>`: a durable channel's consumer groups listed, seen and moved from a shell, for operators (which
 * groups there are, how far behind one is, who holds what; move it past an expired cursor, skip a backlog,
 * process again), through the same log calls as the library's.
 */
import type { Command } from 'commander'
import { createPgListener } from '../../index.js'
import { assertChannelName } from '../../identifiers.js'
import { createDurableLog, DEFAULT_SCHEMA, type DurableLog, type GroupLag } from '../../durable/index.js'
import { checkGroupName } from '../../durable/check-options.js'
import { parseToken } from '../../durable/position.js'
import { databaseUrlOf, withDatabaseOption, type DatabaseOptions } from '../database-option.js'
import { UsageError } from '../exit-codes.js'
import type { CliOutput } from '../program.js'
import { withTimeoutOption, type TimeoutOptions } from '../timeout-option.js'

interface GroupOptions extends DatabaseOptions, TimeoutOptions {
  readonly schema: string
}

export function registerGroupCommand(program: Command, output: CliOutput): void {
  const group = program.command('group').description('See or move a consumer group of a durable channel.')
  /** `<channel>` (and `<group>`), `--schema`, `--timeout` and `--url`: what every group command takes. */
  const common = (command: Command, withGroup = true) => {
    command.argument('<channel>', 'the durable channel')
    if (withGroup) command.argument('<group>', 'the consumer group')
    return withDatabaseOption(withTimeoutOption(command.option('--schema <name>', 'the schema of the durable log', DEFAULT_SCHEMA), 'give up when the database has not answered within this long'))
  }
  common(group.command('list').description('The consumer groups of a durable channel that have run, one name per line.'), false).action(async (channel: string, options: GroupOptions) => {
    const names = await withLog(channel, undefined, options, (log) => log.groups(channel))
    output.out(names.map((name) => `${name}\n`).join(''))
  })
  common(group.command('lag').description('How far the group is behind: messages waiting, the oldest one, and who holds each partition; exit 1 when it fell behind the retention.'))
    .option('--json', 'the whole answer as one JSON object')
    .action(async (channel: string, name: string, options: GroupOptions & { readonly json?: boolean | undefined }) => {
      const lag = await withLog(channel, name, options, (log) => log.groupLag(channel, name))
      // undefined (nothing waits, no lease) as null: a key that is there in every answer.
      output.out(options.json ? `${JSON.stringify(lag, (_, value: unknown) => (value === undefined ? null : value))}\n` : lagTable(lag))
      // A group that fell behind the retention is dead until moved: an alert's script sees it in the status.
      if (lag.expired) throw new GroupExpiredError(`group ${JSON.stringify(name)} of ${JSON.stringify(channel)} fell behind the retention: move it with rxpg group move ${channel} ${name} --to earliest`)
    })
  common(group.command('move').description("Move every partition's cursor of the group (a batch in flight does not commit; members go on from there)."))
    .requiredOption('--to <position>', "a resume token (go on right after it), 'earliest' (the first message kept) or 'now'")
    .action(async (channel: string, name: string, options: GroupOptions & { readonly to: string }) => {
      // A malformed token is refused before connecting (whose issuer is checked against the log).
      if (options.to !== 'now' && options.to !== 'earliest') parseToken(options.to)
      const token = await withLog(channel, name, options, (log) => log.moveGroup(channel, name, options.to))
      output.err(`rxpg: group ${JSON.stringify(name)} of ${JSON.stringify(channel)} moved to ${options.to === token ? token : `${options.to}: ${token}`}\n`)
    })
}

/** Runs `work` on a log that reads and writes nothing else (no maintenance), bounded by --timeout, and closes it. */
async function withLog<T>(channel: string, group: string | undefined, options: GroupOptions, work: (log: DurableLog) => Promise<T>): Promise<T> {
  assertChannelName(channel)
  try {
    if (group !== undefined) checkGroupName(group)
  } catch (error) {
    throw new UsageError((error as Error).message.replace(/^rxpg(\/durable)?: /, ''))
  }
  const url = databaseUrlOf(options)
  const listener = createPgListener(url, { connectTimeout: options.timeout })
  const pool = { connectionString: url, connectionTimeoutMillis: options.timeout, query_timeout: options.timeout }
  const log = createDurableLog({ listener, pool, schema: options.schema, maintenanceInterval: false, stall: false, closeTimeout: 0 })
  try {
    return await work(log)
  } finally {
    await log.close()
    await listener.close()
  }
}

/** `group lag` found the group behind the retention (exit 1, after the output). */
class GroupExpiredError extends Error {
  override readonly name = 'GroupExpiredError'
}

/** One line of totals, then a row per partition, columns tab-separated (for `column -t`, `awk`, `cut`). */
function lagTable(lag: GroupLag): string {
  const iso = (date: Date | undefined) => date?.toISOString() ?? '-'
  const head = `waiting ${lag.waiting}, oldest appended ${iso(lag.oldestAppendedAt)}${lag.expired ? ', EXPIRED: retention dropped messages after its cursor' : ''}\n`
  if (lag.partitions.length === 0) return `${head}no cursors: the group never ran\n`
  const rows = lag.partitions.map((p) => [p.partition, p.waiting, iso(p.oldestAppendedAt), p.owner ?? '-', iso(p.leaseExpiresAt), p.cursor, p.expired ? 'yes' : 'no'].join('\t'))
  return `${head}${['partition', 'waiting', 'oldest', 'owner', 'lease until', 'cursor', 'expired'].join('\t')}\n${rows.join('\n')}\n`
}
