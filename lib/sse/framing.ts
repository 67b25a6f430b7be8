/**
 * SSE framing: turning an event into the text of the `text/event-stream` format, correctly for every payload.
 *
 * A data line ends at CR, LF or CRLF for every SSE parser, so the data is cut at each of them into `data:`
 * lines, which the parser joins again with LF: a payload arrives exactly as sent, except that CR and CRLF
 * arrive as LF (SSE cannot carry a CR; JSON never needs one, it escapes it inside strings). Each line is
 * written after `data: ` with its one space, because a parser drops one space after the colon: a line that
 * starts with a space keeps it. An empty payload is one empty `data:` line, which still dispatches an event
 * (an event with no data line at all would not be dispatched).
 */

const LINE_BREAK = /\r\n|\r|\n/

/** One event's frame: optional id, event name, data, and the blank line that dispatches it. */
export function eventFrame(name: string, data: string, id?: string): string {
  const head = id === undefined ? `event: ${name}\n` : `id: ${id}\nevent: ${name}\n`
  return head + dataLines(data) + '\n'
}

/** The `data:` lines of a payload. */
export function dataLines(data: string): string {
  // Most payloads (JSON) hold no line break: one concatenation, no split.
  if (data.indexOf('\n') === -1 && data.indexOf('\r') === -1) return `data: ${data}\n`
  let lines = ''
  for (const line of data.split(LINE_BREAK)) lines += `data: ${line}\n`
  return lines
}

/** A comment: ignored by every parser, it only keeps the connection busy (proxies close idle ones). */
export const HEARTBEAT_FRAME = ':\n\n'

/** The `retry:` field: how long a native EventSource waits before reconnecting. */
export function retryField(milliseconds: number): string {
  return `retry: ${Math.max(0, Math.round(milliseconds))}\n`
}

/** True when `text` can be written in an `id:` or `event:` field: no CR, LF or NUL. */
export function isFieldSafe(text: string): boolean {
  return !/[\r\n\0]/.test(text)
}

/** The number of bytes `text` takes in UTF-8, without encoding it. */
export function utf8Length(text: string): number {
  let bytes = text.length
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code < 0x80) continue
    if (code < 0x800) bytes += 1
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      // A surrogate pair: 4 bytes for 2 UTF-16 units.
      bytes += 2
      i++
    } else bytes += 2
  }
  return bytes
}
