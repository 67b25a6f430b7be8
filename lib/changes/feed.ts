/**
 * @internal A change feed's spec, checked and with every default applied (`Feed`), and the names its SQL
 * objects and channels get. Everything that generates SQL or reads a feed starts from here, so a name is
 * derived in one place only.
 */
import { createHash } from 'node:crypto'
import { DEFAULT_SCHEMA } from '../durable/index.js'
import { wakeChannelOf } from '../durable/log-context.js'
import { InvalidChangeFeedError } from './errors.js'
import { rowVariablesOf } from './condition-rows.js'
import { readableName } from './sql-text.js'
import type { ChangeCarrier, ChangeConditions, ChangeFeedSpec, ChangeOp } from './types.js'

/** PostgreSQL keeps names of at most 63 bytes (NAMEDATALEN - 1) and silently truncates longer ones. */
const MAX_NAME_BYTES = 63
/** json_build_object takes at most 100 arguments: 50 name/value pairs. */
export const MAX_LISTED_COLUMNS = 50
export const ALL_OPS: readonly ChangeOp[] = ['insert', 'update', 'delete']
/**
 * The format of the spec stored in a feed function's comment, and of what its SQL makes. 2: channel names write
 * each part as in SQL (`changes:public."Orders"`), where 1 joined them bare; a feed of format 1 is re-installed.
 */
export const FEED_FORMAT_VERSION = 2

/** A spec with every default applied and every name checked. */
export interface Feed {
  readonly schema: string
  readonly table: string
  readonly name: string
  /**
   * The schema of the feed's function and wake sequence, whose name is the first part of its channel's: the
   * table's schema unless given (a table moved to another schema keeps its feed here, and the feed its channel).
   */
  readonly feedSchema: string
  readonly carrier: ChangeCarrier
  /** In the order insert, update, delete. */
  readonly ops: readonly ChangeOp[]
  /** null: every column. */
  readonly columns: readonly string[] | null
  readonly old: 'row' | 'key'
  /** Only for operations of `ops`. */
  readonly when: ChangeConditions
  /** undefined until read from the database (`changeFeedSql` needs it). */
  readonly key: readonly string[] | undefined
  readonly level: 'statement' | 'row'
  readonly skipUnchangedUpdates: boolean
  /** Durable carrier only (null for light). */
  readonly logSchema: string | null
  readonly partitions: number | null
  readonly wakeWindow: number | null
}

/**
 * Which ops go through statement-level triggers with transition tables: inserts and deletes (see `level`)
 * without a `when` condition. An op with one is row-level, where the condition is the trigger's own WHEN:
 * PostgreSQL checks it at CREATE TRIGGER and follows column renames, while in a statement-level function it would
 * be text, checked only when a write first runs it (failing every write after a clean install) and never renamed.
 */
export function statementOps(feed: Feed): ChangeOp[] {
  return feed.level === 'statement' ? feed.ops.filter((op) => op !== 'update' && feed.when[op] === undefined) : []
}

/** The names of a feed's objects and channels. */
export interface FeedNames {
  /** The trigger function, in the feed's schema (`feedSchema`). */
  readonly functionName: string
  readonly triggerNames: Readonly<Record<ChangeOp, string>>
  /** Durable: the sequence that holds the time of the last wake-up, in the feed's schema. */
  readonly wakeSequence: string
  /** The durable channel (durable carrier) or the NOTIFY channel (light carrier). */
  readonly channel: string
  /** Durable: the durable log's wake-up channel. */
  readonly wakeChannel: string
  /** Durable: the session setting in which a writer's session remembers the latest wake-up it knows of. */
  readonly wakeSetting: string
  /** Light: the transaction's setting that numbers its changes (identical payloads would be sent once). */
  readonly numberSetting: string
}

/** The spec fields a reader may state (and which are then checked against the installed feed). */
export const SPEC_FIELDS = ['name', 'feedSchema', 'carrier', 'ops', 'columns', 'old', 'when', 'key', 'level', 'skipUnchangedUpdates', 'logSchema', 'partitions', 'wakeWindow'] as const
export type SpecField = (typeof SPEC_FIELDS)[number]

/** Checks `spec` and applies the defaults; throws `InvalidChangeFeedError` naming the first problem. */
export function resolveFeed(spec: ChangeFeedSpec): Feed {
  const invalid = (detail: string) => new InvalidChangeFeedError({ table: String(spec.table), detail })
  if (typeof spec.table !== 'string') throw invalid('table must be a string such as "public.orders"')
  const [schema, table] = parseTableName(spec.table, invalid)
  const name = spec.name ?? table
  checkName(name, 'the feed name', invalid)
  const feedSchema = spec.feedSchema ?? schema
  checkName(feedSchema, 'feedSchema', invalid)
  const carrier = spec.carrier ?? 'durable'
  if (carrier !== 'durable' && carrier !== 'light') throw invalid(`carrier must be 'durable' or 'light', not ${JSON.stringify(carrier)}`)
  const ops = resolveOps(spec.ops, invalid)
  const columns = spec.columns === undefined ? null : resolveColumns(spec.columns, 'columns', invalid)
  const key = spec.key === undefined ? undefined : resolveColumns(spec.key, 'key', invalid)
  const old = spec.old ?? 'row'
  if (old !== 'row' && old !== 'key') throw invalid(`old must be 'row' or 'key', not ${JSON.stringify(old)}`)
  const level = spec.level ?? (carrier === 'durable' ? 'statement' : 'row')
  if (level !== 'statement' && level !== 'row') throw invalid(`level must be 'statement' or 'row', not ${JSON.stringify(level)}`)
  if (carrier === 'light' && level === 'statement') throw invalid("the light carrier sends one notification per row: level must be 'row'")
  const durableOnly = (['logSchema', 'partitions', 'wakeWindow'] as const).filter((field) => spec[field] !== undefined)
  if (carrier === 'light' && durableOnly.length > 0) throw invalid(`${durableOnly.join(', ')} ${durableOnly.length === 1 ? 'applies' : 'apply'} to the durable carrier only`)
  const logSchema = carrier === 'durable' ? (spec.logSchema ?? DEFAULT_SCHEMA) : null
  if (logSchema !== null) checkName(logSchema, 'logSchema', invalid)
  const partitions = carrier === 'durable' ? (spec.partitions ?? 16) : null
  if (partitions !== null && !(Number.isInteger(partitions) && partitions >= 1 && partitions <= 1024)) throw invalid('partitions must be an integer from 1 to 1024')
  const wakeWindow = carrier === 'durable' ? (spec.wakeWindow ?? 5) : null
  if (wakeWindow !== null && !(Number.isInteger(wakeWindow) && wakeWindow >= 0 && wakeWindow <= 60_000)) throw invalid('wakeWindow must be a whole number of ms from 0 to 60000')
  const skipUnchangedUpdates = spec.skipUnchangedUpdates ?? true
  if (typeof skipUnchangedUpdates !== 'boolean') throw invalid('skipUnchangedUpdates must be true or false')
  return { schema, table, name, feedSchema, carrier, ops, columns, old, when: resolveWhen(spec.when, ops, invalid), key, level, skipUnchangedUpdates, logSchema, partitions, wakeWindow }
}

/** The names of `feed`'s functions, triggers and channels. */
export function namesOf(feed: Feed): FeedNames {
  // Each part as written in SQL (quoted unless plain): "a.b".c and a."b.c" must not share a channel. A feed is
  // named by its schema (the table's, unless the table moved since) and its name: so is everything it makes.
  const plainChannel = `changes:${readableName(feed.feedSchema)}.${readableName(feed.name)}`
  const channel = Buffer.byteLength(plainChannel) <= MAX_NAME_BYTES ? plainChannel : `changes:${hash(`${feed.feedSchema}\0${feed.name}`, 32)}`
  return {
    functionName: boundedName('rxpg_changes_', feed.name, ''),
    triggerNames: { insert: boundedName('rxpg_changes_', feed.name, '_insert'), update: boundedName('rxpg_changes_', feed.name, '_update'), delete: boundedName('rxpg_changes_', feed.name, '_delete') },
    wakeSequence: boundedName('rxpg_changes_', feed.name, '_wake'),
    channel,
    wakeChannel: wakeChannelOf(feed.logSchema ?? DEFAULT_SCHEMA),
    wakeSetting: `rxpg.changes_wake_${hash(`${feed.feedSchema}\0${feed.name}`, 16)}`,
    numberSetting: `rxpg.changes_number_${hash(`${feed.feedSchema}\0${feed.name}`, 16)}`,
  }
}

/**
 * `schema.table` with PostgreSQL's rules: each part plain (folded to lower case) or double-quoted (exact,
 * `""` for a quote); no schema means `public`.
 */
export function parseTableName(text: string, invalid: (detail: string) => Error): [schema: string, table: string] {
  const parts: string[] = []
  let rest = text.trim()
  for (;;) {
    let part: string
    if (rest.startsWith('"')) {
      const match = /^"((?:[^"]|"")*)"/.exec(rest)
      if (match === null) throw invalid(`${JSON.stringify(text)} has a quoted name without its closing quote`)
      part = (match[1] ?? '').replaceAll('""', '"')
      rest = rest.slice(match[0].length)
    } else {
      const match = /^[^."\s]+/.exec(rest)
      if (match === null) throw invalid(`${JSON.stringify(text)} is not a table name such as "public.orders"`)
      part = match[0].replace(/[A-Z]/g, (letter) => letter.toLowerCase())
      rest = rest.slice(match[0].length)
    }
    checkName(part, 'a table or schema name', invalid)
    parts.push(part)
    if (rest === '') break
    if (!rest.startsWith('.')) throw invalid(`${JSON.stringify(text)} is not a table name such as "public.orders"`)
    rest = rest.slice(1)
  }
  if (parts.length > 2) throw invalid(`${JSON.stringify(text)} has more than a schema and a table`)
  return parts.length === 2 ? [parts[0] as string, parts[1] as string] : ['public', parts[0] as string]
}

function resolveOps(ops: readonly ChangeOp[] | undefined, invalid: (detail: string) => Error): readonly ChangeOp[] {
  if (ops === undefined) return ALL_OPS
  if (!Array.isArray(ops) || ops.length === 0) throw invalid(`ops must be a non-empty list of ${ALL_OPS.join(', ')}`)
  const unknown = ops.filter((op) => !ALL_OPS.includes(op))
  if (unknown.length > 0) throw invalid(`unknown op(s) ${unknown.map((op) => JSON.stringify(op)).join(', ')}: ops are ${ALL_OPS.join(', ')}`)
  return ALL_OPS.filter((op) => ops.includes(op))
}

function resolveColumns(columns: readonly string[], field: 'columns' | 'key', invalid: (detail: string) => Error): readonly string[] {
  if (!Array.isArray(columns) || columns.length === 0) throw invalid(`${field} must be a non-empty list of column names`)
  for (const column of columns) checkName(column, `a column name in ${field}`, invalid)
  if (new Set(columns).size !== columns.length) throw invalid(`${field} names a column twice`)
  if (columns.length > MAX_LISTED_COLUMNS) throw invalid(`${field} lists ${columns.length} columns; at most ${MAX_LISTED_COLUMNS} (PostgreSQL's json_build_object takes 100 arguments): leave columns out to carry the whole row`)
  return [...columns]
}

function resolveWhen(when: ChangeFeedSpec['when'], ops: readonly ChangeOp[], invalid: (detail: string) => Error): ChangeConditions {
  if (when === undefined) return {}
  const given: ChangeConditions = typeof when === 'string' ? Object.fromEntries(ops.map((op) => [op, when])) : when
  if (typeof given !== 'object' || given === null) throw invalid('when must be an SQL condition, or an object of them per op')
  const conditions: Partial<Record<ChangeOp, string>> = {}
  for (const [op, condition] of Object.entries(given) as Array<[string, unknown]>) {
    if (condition === undefined) continue
    if (!ALL_OPS.includes(op as ChangeOp)) throw invalid(`when.${op}: conditions are per op (${ALL_OPS.join(', ')})`)
    if (!ops.includes(op as ChangeOp)) throw invalid(`when.${op}: the feed does not report ${op}s`)
    if (typeof condition !== 'string' || condition.trim() === '') throw invalid(`when.${op} must be a non-empty SQL condition`)
    if (condition.includes('\0')) throw invalid(`when.${op} contains a NUL character`)
    const rows = rowVariablesOf(condition)
    if (op === 'insert' && rows.old) throw invalid(whenRowProblem(when, 'insert', 'OLD', ops))
    if (op === 'delete' && rows.new) throw invalid(whenRowProblem(when, 'delete', 'NEW', ops))
    conditions[op as ChangeOp] = condition.trim()
  }
  return conditions
}

function whenRowProblem(when: ChangeFeedSpec['when'], op: 'insert' | 'delete', variable: 'OLD' | 'NEW', ops: readonly ChangeOp[]): string {
  if (typeof when !== 'string') return `when.${op} names ${variable}, which ${op}s do not have (as in a trigger's WHEN)`
  const others = ops.filter((other) => other !== op)
  const perOp = others.length > 0 ? `when: { ${others[0]}: …${others.length > 1 ? `, ${others[1]}: …` : ''} }` : `ops without ${op}`
  return `a condition for every op cannot name ${variable}: ${op}s have no ${variable} row (as in a trigger's WHEN); give one condition per op (${perOp})`
}

function checkName(name: unknown, what: string, invalid: (detail: string) => Error): asserts name is string {
  if (typeof name !== 'string' || name === '') throw invalid(`${what} must be a non-empty string`)
  // Control characters (a newline) are allowed in quoted PostgreSQL names, but names are also written into
  // the SQL's comments, where a newline would end the comment: refused.
  if ([...name].some((character) => character.charCodeAt(0) < 0x20 || character === '\u007f')) throw invalid(`${what} ${JSON.stringify(name)} contains a control character`)
  if (!name.isWellFormed()) throw invalid(`${what} ${JSON.stringify(name)} contains a lone UTF-16 surrogate`)
  const bytes = Buffer.byteLength(name)
  if (bytes > MAX_NAME_BYTES) throw invalid(`${what} ${JSON.stringify(name)} is ${bytes} bytes of UTF-8; PostgreSQL keeps at most ${MAX_NAME_BYTES}`)
}

/** `prefix + name + suffix`, or when that is over 63 bytes the name cut short and followed by a hash of it: distinct names stay distinct. */
function boundedName(prefix: string, name: string, suffix: string): string {
  const plain = prefix + name + suffix
  if (Buffer.byteLength(plain) <= MAX_NAME_BYTES) return plain
  const tag = `_${hash(name, 8)}`
  let kept = ''
  for (const character of name) {
    if (Buffer.byteLength(prefix + kept + character + tag + suffix) > MAX_NAME_BYTES) break
    kept += character
  }
  return prefix + kept + tag + suffix
}

function hash(text: string, length: number): string {
  return createHash('sha256').update(text).digest('hex').slice(0, length)
}
