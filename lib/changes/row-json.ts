/**
 * @internal The SQL expressions that turn a row into its JSON form, shared by the triggers (NEW, OLD, a
 * transition table) and by the read of a row too large for a notification, so both give the same form.
 */
import { quoteIdentifier } from '../index.js'
import type { Feed } from './feed.js'
import { quoteLiteral } from './sql-text.js'

/**
 * The carried columns of the row `alias` as a json value: `to_json(alias)` for every column (whatever they are
 * named when the change happens), or a `json_build_object` of the listed ones.
 */
export function rowJson(feed: Feed, alias: string): string {
  return feed.columns === null ? `to_json(${alias})` : columnsJson(feed.columns, alias)
}

/** The key columns of the row `alias` as a json object. */
export function keyJson(key: readonly string[], alias: string): string {
  return columnsJson(key, alias)
}

function columnsJson(columns: readonly string[], alias: string): string {
  return `json_build_object(${columns.map((column) => `${quoteLiteral(column)}, ${alias}.${quoteIdentifier(column)}`).join(', ')})`
}
