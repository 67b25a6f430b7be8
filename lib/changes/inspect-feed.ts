/**
 * @internal Before a feed is read: is it installed, as the reader asks for it? The installed spec (stored in
 * the trigger function's comment) is the truth about what changes look like; every spec field the reader
 * states must match it, and the ones it leaves out are taken from it.
 */
import type pg from 'pg'
import { tableFacts, columnForms, type TableFacts, type TableName } from './catalog.js'
import { ChangeFeedNotInstalledError, ChangesUnsupportedServerError, NoPrimaryKeyError, type FeedNotInstalledReason } from './errors.js'
import { FEED_COMMENT_PREFIX } from './feed-sql.js'
import { FEED_FORMAT_VERSION, namesOf, resolveFeed, SPEC_FIELDS, statementOps, type Feed, type FeedNames } from './feed.js'
import { installCommandOf, shellWord } from './install-command.js'
import type { ColumnForms } from './json-form.js'
import { qualifiedName, readableName } from './sql-text.js'
import { quoteIdentifier } from '../index.js'
import type { ChangeFeedSpec } from './types.js'

/** PostgreSQL 12: generated columns, `EXECUTE FUNCTION`, transition tables, and what durable channels need. */
export const MINIMUM_SERVER_VERSION = 120000

export interface InstalledFeed {
  /** The feed as installed (with its key). */
  readonly feed: Feed
  readonly names: FeedNames
  /** The table as a quoted SQL name. */
  readonly table: string
  readonly forms: ColumnForms
}

export async function inspectFeed(pool: pg.Pool | pg.ClientBase, options: ChangeFeedSpec): Promise<InstalledFeed> {
  const requested = resolveFeed(options)
  const table = qualifiedName(requested.schema, requested.table)
  const fn = `${qualifiedName(requested.feedSchema, namesOf(requested).functionName)}()`
  const facts = await tableFacts(pool, table, requested.feedSchema, namesOf(requested).functionName)
  if (facts.serverVersionNum < MINIMUM_SERVER_VERSION) {
    throw new ChangesUnsupportedServerError({ feature: 'Change feeds', serverVersionNum: facts.serverVersionNum, minimumVersionNum: MINIMUM_SERVER_VERSION })
  }
  const notInstalled = (reason: FeedNotInstalledReason, detail: string, command: Feed, extra: { differences?: string[] | undefined; disabledTriggers?: string[] | undefined } = {}) =>
    new ChangeFeedNotInstalledError({ table, feed: requested.name, reason, command: installCommandOf(command), detail, ...extra })
  const wanted: Feed = { ...requested, key: requested.key ?? facts.primaryKey ?? undefined }
  if (!facts.tableExists) {
    // The feed may be there, on the table under its new name (renamed or moved to another schema since), or its
    // function left behind with no trigger (the table dropped, or its triggers taken over by another feed).
    const [now] = facts.functionTables
    const feed =
      facts.functionComment === undefined
        ? ''
        : now === undefined
          ? `; feed "${requested.name}" has its function ${fn} still, with no trigger: the --drop variant of its SQL removes it`
          : `; feed "${requested.name}" (function ${fn}) is on ${qualifiedName(...now)} now, the table renamed or moved to another schema since: read that table${readOptions(requested, now)}`
    throw notInstalled('no-table', `to_regclass('${table}') is null${feed}`, wanted)
  }
  if (facts.functionComment === undefined) {
    // The table has a feed of another name or schema, installed before the table was renamed or moved (its spec
    // names the table as it was). A feed under the new name would be a second one, writing every change twice; one
    // in the table's new schema would take its triggers over, on another channel.
    const followed = facts.otherFeeds
      .map(({ comment }) => feedOfComment(comment))
      .find(
        (feed): feed is Feed =>
          feed !== undefined &&
          (feed.schema !== requested.schema || feed.table !== requested.table) &&
          (options.name === undefined || feed.name === requested.name) &&
          (options.feedSchema === undefined || feed.feedSchema === requested.feedSchema),
      )
    if (followed !== undefined) {
      const before = qualifiedName(followed.schema, followed.table)
      throw notInstalled(
        'different',
        `the table's feed is feed "${followed.name}" of schema ${quoteIdentifier(followed.feedSchema)}, installed on ${before} before the table was ${movedOrRenamed(followed, requested)}: read it${readOptions(followed, [requested.schema, requested.table]) || " by the table's name"}, and apply its SQL for the table's new name, under that feed name and schema (the command), in a migration: it keeps the feed's channel`,
        { ...followed, schema: requested.schema, table: requested.table },
      )
    }
    if (wanted.key === undefined) throw new NoPrimaryKeyError({ table })
    throw notInstalled('missing', `no function ${fn}`, wanted)
  }
  const installed = feedOfComment(facts.functionComment)
  if (installed === undefined) {
    const format = formatOfComment(facts.functionComment)
    throw notInstalled(
      'different',
      typeof format === 'number' && format < FEED_FORMAT_VERSION
        ? `installed by an older rxpg (feed format ${format}, this rxpg reads format ${FEED_FORMAT_VERSION}): generate and apply its SQL again`
        : `the function's comment is not the spec of an rxpg change feed of format ${FEED_FORMAT_VERSION}`,
      wanted,
    )
  }
  if (installed.schema !== requested.schema || installed.table !== requested.table) {
    // Its triggers are on this table: the table was renamed or moved since the feed was installed, and the feed follows.
    throw notInstalled(
      'different',
      facts.triggers.length > 0
        ? `feed "${installed.name}" was installed on ${qualifiedName(installed.schema, installed.table)}, since ${movedOrRenamed(installed, requested)}: apply its SQL for the table's new name under the same feed name and schema (the command) in a migration: it keeps the feed's channel`
        : `function ${fn} is the feed of ${qualifiedName(installed.schema, installed.table)}: feed names are unique in a schema, give this feed another name`,
      facts.triggers.length > 0 ? { ...installed, schema: requested.schema, table: requested.table } : wanted,
    )
  }

  const given = SPEC_FIELDS.filter((field) => options[field] !== undefined)
  let merged: Feed
  try {
    merged = resolveFeed({ ...specOf(installed), ...Object.fromEntries(given.map((field) => [field, options[field]])) })
  } catch (error) {
    throw notInstalled('different', error instanceof Error ? error.message : String(error), wanted, { differences: [...given] })
  }
  const differences = given.filter((field) => JSON.stringify(merged[field]) !== JSON.stringify(installed[field]))
  if (differences.length > 0) {
    throw notInstalled('different', differences.map((field) => `${field} is ${JSON.stringify(installed[field])}`).join(', '), merged, { differences })
  }

  const names = namesOf(installed)
  const missing = installed.ops.map((op) => names.triggerNames[op]).filter((name) => !facts.triggers.some((trigger) => trigger.name === name))
  if (missing.length > 0) throw notInstalled('missing', `trigger ${missing.join(', ')} is missing`, installed)
  // The triggers of another spec than the function's: its SQL was applied in part (a migration that stopped
  // half-way), and the function would read rows that its triggers do not give it.
  const expected = new Set(installed.ops.map((op) => names.triggerNames[op]))
  const leftover = facts.triggers.filter((trigger) => !expected.has(trigger.name)).map((trigger) => trigger.name).sort()
  if (leftover.length > 0) {
    throw notInstalled('different', `trigger(s) ${leftover.join(', ')} call the feed's function for ops it does not report: its SQL was applied in part, apply it again (in one transaction)`, installed)
  }
  // On a partition or in an inheritance tree, the SQL makes every trigger row-level (statement-level ones there miss
  // the rows written through a parent, and a parent's see its children's rows): a table attached as a partition,
  // or that joined an inheritance tree, since the SQL was applied has triggers that no longer fit it.
  const byStatement = facts.tree === undefined ? statementOps(installed) : []
  for (const op of installed.ops) {
    const trigger = facts.triggers.find((candidate) => candidate.name === names.triggerNames[op])
    const wantsRow = !byStatement.includes(op)
    if (trigger === undefined || trigger.row === wantsRow) continue
    if (facts.tree !== undefined) {
      throw notInstalled(
        'different',
        `${table} ${treePlace(facts.tree)}, but the feed's trigger ${trigger.name} is statement-level (its SQL was applied before the table was attached or joined the tree, or by an earlier rxpg), and statement-level triggers there miss the rows written through a parent (and a parent's report its children's rows); apply the feed's SQL again (the command): it makes its inserts and deletes row-level`,
        installed,
      )
    }
    const level = (row: boolean) => (row ? 'row-level' : 'statement-level')
    const left = trigger.row ? ' (or the table has left a partitioned table or inheritance tree since: DETACH PARTITION, NO INHERIT)' : ''
    throw notInstalled('different', `trigger ${trigger.name} is a ${level(trigger.row)} trigger; the feed's function is for ${level(wantsRow)} ones: its SQL was applied in part${left}, apply it again (in one transaction)`, installed)
  }
  const disabled = facts.triggers.filter((trigger) => !trigger.enabled).map((trigger) => trigger.name)
  if (disabled.length > 0) throw notInstalled('disabled', `disabled: ${disabled.join(', ')}`, installed, { disabledTriggers: disabled })

  const forms = await columnForms(pool, table)
  const gone = [...(installed.key ?? []), ...(installed.columns ?? [])].filter((column) => !forms.has(column))
  if (gone.length > 0) throw goneColumns(installed, gone, facts.primaryKey, notInstalled)
  return { feed: installed, names, table, forms }
}

/** Where a table is in its tree, as the start check says it. */
function treePlace(tree: NonNullable<TableFacts['tree']>): string {
  const names = (tables: readonly TableName[]) => tables.map((name) => qualifiedName(...name)).join(', ')
  if (tree.partition) return `is a partition of ${names(tree.parents)} (ATTACH PARTITION)`
  const places: string[] = []
  if (tree.parents.length > 0) places.push(`inherits from ${names(tree.parents)}`)
  if (tree.childCount > 0) places.push(`has inheritance children (${names(tree.children)}${tree.childCount > tree.children.length ? `, ${tree.childCount - tree.children.length} more` : ''})`)
  return places.join(' and ')
}

/** How a table came from where its feed's spec says to `now`: renamed, moved to another schema, or both. */
function movedOrRenamed(before: Pick<Feed, 'schema' | 'table'>, now: Pick<Feed, 'schema' | 'table'>): string {
  const moved = `moved to schema ${quoteIdentifier(now.schema)} (ALTER TABLE … SET SCHEMA)`
  if (before.schema === now.schema) return `renamed to ${qualifiedName(now.schema, now.table)}`
  return before.table === now.table ? moved : `${moved} and renamed to ${qualifiedName(now.schema, now.table)}`
}

/** ` with name: 'x' and feedSchema: 'y'`: what a reader of `table` states to read `feed` (nothing when the defaults are it). */
function readOptions(feed: Pick<Feed, 'name' | 'feedSchema'>, [schema, table]: TableName): string {
  const options = [...(feed.name === table ? [] : [`name: '${feed.name}'`]), ...(feed.feedSchema === schema ? [] : [`feedSchema: '${feed.feedSchema}'`])]
  const flags = [...(feed.feedSchema === schema ? [] : [`--feed-schema ${shellWord(feed.feedSchema)}`]), ...(feed.name === table ? [] : [`--name ${shellWord(feed.name)}`])]
  return options.length === 0 ? '' : ` with ${options.join(' and ')} (npx rxpg changes ${shellWord(`${readableName(schema)}.${readableName(table)}`)} ${flags.join(' ')})`
}

/**
 * The feed names columns the table no longer has: renamed or dropped. PostgreSQL's primary key follows a
 * rename, so a key column gone is mapped to the primary key's column at its place (when the key was the primary
 * key); any other name cannot be resolved here (the feed's spec is text) and stays in the command, so that
 * the command, applied as it is, fails naming it rather than install a feed that silently no longer carries it.
 */
function goneColumns(
  installed: Feed,
  gone: readonly string[],
  primaryKey: readonly string[] | null,
  notInstalled: (reason: FeedNotInstalledReason, detail: string, command: Feed, extra: { differences?: string[] | undefined }) => ChangeFeedNotInstalledError,
): ChangeFeedNotInstalledError {
  const key = installed.key ?? []
  const keyKept = primaryKey !== null && primaryKey.length === key.length && key.every((column, index) => gone.includes(column) || primaryKey[index] === column)
  const renamed = new Map(keyKept ? key.flatMap((column, index): Array<[string, string]> => (gone.includes(column) ? [[column, primaryKey[index] as string]] : [])) : [])
  const rename = (names: readonly string[]) => names.map((column) => renamed.get(column) ?? column)
  const command: Feed = { ...installed, columns: installed.columns === null ? null : rename(installed.columns), key: installed.key === undefined ? undefined : rename(installed.key) }
  const unresolved = gone.filter((column) => !renamed.has(column))
  const names = gone.map((column) => JSON.stringify(column)).join(', ')
  const fix =
    unresolved.length === 0
      ? "the primary key's new names are in the command: apply the SQL it prints"
      : "in the command, put each one's new name in its place (in --columns and any --when-…), or leave it out if it was dropped, and apply the SQL it prints"
  return notInstalled('different', `column(s) ${names} named by the feed are not in the table any more (renamed or dropped): ${fix}`, command, { differences: ['columns'] })
}

/** The spec stored in a feed function's comment, or undefined when the comment is not one. */
export function feedOfComment(comment: string | null): Feed | undefined {
  if (comment === null || !comment.startsWith(FEED_COMMENT_PREFIX)) return undefined
  try {
    const { format, ...feed } = JSON.parse(comment.slice(FEED_COMMENT_PREFIX.length)) as Feed & { format: unknown }
    return format === FEED_FORMAT_VERSION ? resolveFeed(specOf(feed)) : undefined
  } catch {
    return undefined
  }
}

/** The format a feed function's comment says it has, when it is an rxpg feed's comment at all. */
function formatOfComment(comment: string | null): unknown {
  if (comment === null || !comment.startsWith(FEED_COMMENT_PREFIX)) return undefined
  try {
    return (JSON.parse(comment.slice(FEED_COMMENT_PREFIX.length)) as { format?: unknown }).format
  } catch {
    return undefined
  }
}

/** A resolved feed as a spec again (every field explicit). */
export function specOf(feed: Feed): ChangeFeedSpec {
  return {
    table: qualifiedName(feed.schema, feed.table),
    name: feed.name,
    ...(feed.feedSchema === feed.schema ? {} : { feedSchema: feed.feedSchema }),
    carrier: feed.carrier,
    ops: feed.ops,
    ...(feed.columns === null ? {} : { columns: feed.columns }),
    old: feed.old,
    when: feed.when,
    ...(feed.key === undefined ? {} : { key: feed.key }),
    level: feed.level,
    skipUnchangedUpdates: feed.skipUnchangedUpdates,
    ...(feed.carrier === 'durable' ? { logSchema: feed.logSchema ?? undefined, partitions: feed.partitions ?? undefined, wakeWindow: feed.wakeWindow ?? undefined } : {}),
  }
}
