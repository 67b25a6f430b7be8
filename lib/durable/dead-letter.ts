/**
 * @internal The value a consumer appends to its `deadLetter.channel` for a message it sets aside (a `DeadLetter`):
 * where the message was, its value as stored, how often the handler failed on it and with what.
 */
import type { PageRow } from './page.js'

/** Where a set-aside message was consumed. */
export interface SetAsideBy {
  readonly channel: string
  readonly group: string
  readonly member: string
}

/**
 * The dead letter's JSON text. The message's value goes in as its stored JSON text, not parsed and written again,
 * so that a number a double cannot hold, or what a typed channel's decoder would have changed, stays as it was.
 * The error's text (anything a handler threw) is written in ASCII, non-ASCII characters as \u escapes: the channel,
 * key, group and member were already stored in this database, but a character of the error's message might not
 * be representable in its encoding (a LATIN1 database), and the set-aside would fail for ever.
 */
export function deadLetterText(by: SetAsideBy, token: string, row: PageRow, attempts: number, error: unknown): string {
  const head = JSON.stringify({ channel: by.channel, token, key: row.key, group: by.group, member: by.member })
  const tail = asciiJson({ appendedAt: new Date(row.appendedMs).toISOString(), attempts, error: describeFailure(error) })
  return `${head.slice(0, -1)},"value":${row.text},${tail.slice(1)}`
}

/**
 * What a dead letter tells of the failure: its name, message, a string `code` where it has one, and the SQLSTATE
 * where it carries one (an rxpg error's `info.sqlState`, a pg error's own code).
 */
function describeFailure(error: unknown): { name: string; message: string; code?: string | undefined; sqlState?: string | undefined } {
  const fields = (typeof error === 'object' && error !== null ? error : {}) as { code?: unknown; severity?: unknown; info?: { sqlState?: unknown } | undefined }
  const code = typeof fields.code === 'string' ? fields.code : undefined
  const sqlState = typeof fields.info?.sqlState === 'string' ? fields.info.sqlState : code !== undefined && fields.severity !== undefined && /^[0-9A-Z]{5}$/.test(code) ? code : undefined
  const name = error instanceof Error ? error.name : typeof error
  const message = error instanceof Error ? error.message : printable(error)
  return { name, message, ...(code === undefined ? {} : { code }), ...(sqlState === undefined ? {} : { sqlState }) }
}

/** `String(value)`, or a placeholder for a value that cannot be made a string (an object without a prototype). */
function printable(value: unknown): string {
  try {
    return String(value)
  } catch {
    return '(a value that cannot be printed)'
  }
}

function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u0080-\uffff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`)
}
