/**
 * @internal Statements that must run at READ COMMITTED whatever the session's `default_transaction_isolation`
 * (set for the server, a role or a database): the lease statements, a group's join and move, maintenance, a
 * channel's registration and the log's opening. Each updates rows that others update at the same time (cursor
 * rows, members, the log's meta row) or inserts under ON CONFLICT, and relies on READ COMMITTED for it: a
 * statement that meets a concurrent update waits for it, then checks its WHERE again on the row as committed.
 * Under REPEATABLE READ and SERIALIZABLE it fails with 40001 instead.
 *
 * Sent as one simple query, `SET TRANSACTION ISOLATION LEVEL READ COMMITTED; <statement>`: the two statements
 * run in one implicit transaction, so the level is the statement's own, in one round trip, and nothing of the
 * session changes (a `SET default_transaction_isolation` on the connection would, behind a transaction-mode
 * pooler, stay on a server connection that other clients get next, and not follow the next statement to
 * another). On an error the implicit transaction is rolled back and the session is idle again. The simple
 * protocol takes no parameters, so the values are written into the text as literals (below); these statements
 * are not prepared, which costs a plan each time: they run a few times per lease period, not per message.
 */

import { quoteLiteral } from '../identifiers.js'

const PREFIX = 'SET TRANSACTION ISOLATION LEVEL READ COMMITTED;\n'

/**
 * `text` (whose parameters are `$1`, `$2`, ...) with each parameter replaced by the literal of its value, after
 * the isolation prefix. Quoted identifiers, string literals and comments are copied as they are (a schema's name
 * may hold `$1`).
 */
export function readCommittedStatement(text: string, values: readonly unknown[]): string {
  // Comments too: an apostrophe in one (`-- the member's lease`) would otherwise open a string to the next quote.
  return PREFIX + text.replace(/"(?:[^"]|"")*"|'(?:[^']|'')*'|--[^\n]*|\/\*[\s\S]*?\*\/|\$(\d+)/g, (match, index: string | undefined) => (index === undefined ? match : literalOf(values[Number(index) - 1])))
}

/**
 * A value's SQL literal. Quoted, numbers too: an untyped literal takes its type from where it stands, as an
 * untyped parameter does (pg sends every parameter as text, of no type), so the statement means what it means
 * with parameters. NULL for null; an array as the text of an array literal.
 */
function literalOf(value: unknown): string {
  if (value === null || value === undefined) return 'NULL'
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return stringLiteral(String(value))
  if (typeof value === 'string') return stringLiteral(value)
  if (Array.isArray(value)) return stringLiteral(`{${value.map(arrayElementOf).join(',')}}`)
  throw new TypeError(`rxpg/durable: a statement parameter of type ${typeof value} has no SQL literal here`)
}

function arrayElementOf(value: unknown): string {
  if (value === null || value === undefined) return 'NULL'
  if (typeof value === 'number' || typeof value === 'bigint') return String(value)
  if (typeof value === 'string') return `"${value.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`
  throw new TypeError(`rxpg/durable: an array element of type ${typeof value} has no SQL literal here`)
}

/**
 * A string literal, right whatever `standard_conforming_strings` says (as pg's escapeLiteral writes it): quotes
 * doubled, and with a backslash, an `E''` literal with backslashes doubled. A NUL, which no text may hold (the
 * server refuses it as a parameter), would end the query string: refused here.
 */
function stringLiteral(text: string): string {
  if (text.includes('\0')) throw new RangeError(`rxpg/durable: a text value may not hold NUL (PostgreSQL text cannot); got ${JSON.stringify(text)}`)
  const literal = quoteLiteral(text)
  // An escape string is set apart from what precedes it, so that its E never joins a word before the parameter.
  return literal.startsWith('E') ? ` ${literal}` : literal
}
