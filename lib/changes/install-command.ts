/**
 * @internal The command that prints a feed's SQL, as errors name it: `npx rxpg sql changes --table … | psql`.
 * Every option that differs from its default is written out, so the command regenerates exactly this feed.
 */
import type { Feed } from './feed.js'
import { readableName } from './sql-text.js'

/**
 * psql as the generated SQL wants it: in one transaction, stopping at the first error. Plain psql runs each
 * statement on its own and goes on after a failure, which can leave a feed's new function with its old triggers.
 */
export const PSQL = 'psql -1 -v ON_ERROR_STOP=1 "$DATABASE_URL"'

export function installCommandOf(feed: Feed): string {
  const words = ['npx', 'rxpg', 'sql', 'changes', '--table', shellWord(`${readableName(feed.schema)}.${readableName(feed.table)}`)]
  const option = (flag: string, value: string) => words.push(flag, shellWord(value))
  if (feed.feedSchema !== feed.schema) option('--feed-schema', feed.feedSchema)
  if (feed.name !== feed.table) option('--name', feed.name)
  if (feed.carrier !== 'durable') option('--carrier', feed.carrier)
  if (feed.ops.length < 3) option('--ops', feed.ops.join(','))
  if (feed.columns !== null) option('--columns', feed.columns.join(','))
  if (feed.old !== 'row') option('--old', feed.old)
  for (const [op, condition] of Object.entries(feed.when)) option(`--when-${op}`, condition)
  if (feed.key !== undefined) option('--key', feed.key.join(','))
  if (feed.level !== (feed.carrier === 'durable' ? 'statement' : 'row')) option('--level', feed.level)
  if (!feed.skipUnchangedUpdates) words.push('--report-unchanged-updates')
  if (feed.logSchema !== null && feed.logSchema !== 'rxpg') option('--log-schema', feed.logSchema)
  if (feed.partitions !== null && feed.partitions !== 16) option('--partitions', String(feed.partitions))
  if (feed.wakeWindow !== null && feed.wakeWindow !== 5) option('--wake-window', String(feed.wakeWindow))
  return `${words.join(' ')} | ${PSQL}`
}

/** One shell word: as it is when plainly safe, else single-quoted. */
export function shellWord(word: string): string {
  return /^[A-Za-z0-9_.,:=@%+/-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`
}
