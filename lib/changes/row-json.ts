/**
 * @internal The SQL expressions that turn a row into its JSON form, shared by the triggers (NEW, OLD, a
 * transition table) and by the read of a row too large for a notification, so both give the same form.
 */
import { quoteIdentifier } from '../index.js'
import type { Feed } from './feed.js'
import { quoteLiteral } from '../identifiers.js'

/**
 * The carried columns of the row of the table alias `alias` (a transition table, a table read) as a json value:
 * `to_json(alias.*)` for every column (whatever they are named when the change happens; `.*` so that a column
 * named like the alias, `new` or `old`, is not taken for the row), or a `json_build_object` of the listed ones.
 */
export function rowJson(feed: Feed, alias: string): string {
  return feed.columns === null ? `to_json(${alias}.*)` : columnsJson(feed.columns, (column) => `${alias}.${quoteIdentifier(column)}`)
}

/** The key columns of the row of the table alias `alias` as a json object. */
export function keyJson(key: readonly string[], alias: string): string {
  return columnsJson(key, (column) => `${alias}.${quoteIdentifier(column)}`)
}

function columnsJson(columns: readonly string[], valueOf: (column: string) => string): string {
  return `json_build_object(${columns.map((column) => `${quoteLiteral(column)}, ${valueOf(column)}`).join(', ')})`
}
