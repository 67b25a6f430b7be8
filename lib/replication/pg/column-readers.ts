/**
 * How the pgoutput decoder turns a column's text into its value, chosen once per Relation message.
 *
 * Most columns are read by calling pg's type parser on the text. For the commonest types the parser pg
 * registers does nothing a reader of the bytes cannot do without it: its text types return the text itself
 * (`noParse`, and `int8`'s parser, which keeps a 64-bit integer as its text), and `int2`/`int4`/`oid` call
 * `parseInt(text, 10)`. A change stream decodes every column of every change, so for those the decoder
 * reads the value straight from the message's bytes: no string for an integer, no call for a text. Measured
 * on a tuple of int4, int8 and two text columns (13 and 160 bytes), 2 million times: ~300 ns a tuple
 * against 540-630 ns.
 *
 * A parser is only taken for one of these when its own source is pg's (compared as text, whitespace aside):
 * a parser the application registered with `types.setTypeParser` (or gave the connection in `types`) is
 * always called, whatever the type. Should a future pg-types write its parsers otherwise, every column
 * is simply parsed as before.
 *
 * Texts themselves (for a text column, or for a parser) are read by `textAt`: short ASCII ones without a call
 * into Node's C++.
 */
import type { TypeParser } from './pgoutput-decoder.js'

/** Read the text and keep it as the value. */
export const TEXT_VALUE = 0
/** Read the digits (an optional '-' and decimal digits: how the server writes int2, int4 and oid) as a number. */
export const INTEGER_VALUE = 1
/** Call the column's parser on its text. */
export const PARSED_VALUE = 2

export type ColumnReader = typeof TEXT_VALUE | typeof INTEGER_VALUE | typeof PARSED_VALUE

/** The types whose text is an optional '-' and digits only, small enough for a double: int2, int4, oid. */
const INTEGER_TYPES = new Set([21, 23, 26])

/** pg-types' parsers that return their text unchanged (`noParse`; `parseBigInteger`, for int8), whitespace removed. */
const TEXT_SOURCES = new Set(['functionnoParse(val){returnString(val);}', 'function(value){varvalStr=String(value);if(/^\\d+$/.test(valStr)){returnvalStr;}returnvalue;}'])
/** pg-types' `parseInteger`, whitespace removed. */
const INTEGER_SOURCE = 'function(value){returnparseInt(value,10);}'

const sources = new WeakMap<TypeParser, string>()

function sourceOf(parser: TypeParser): string {
  let source = sources.get(parser)
  if (source === undefined) {
    source = Function.prototype.toString.call(parser).replace(/\s+/g, '')
    sources.set(parser, source)
  }
  return source
}

/** How to read the values of a column of type `typeOid` whose parser is `parser`. */
export function columnReaderOf(typeOid: number, parser: TypeParser): ColumnReader {
  const source = sourceOf(parser)
  if (TEXT_SOURCES.has(source)) return TEXT_VALUE
  if (source === INTEGER_SOURCE && INTEGER_TYPES.has(typeOid)) return INTEGER_VALUE
  return PARSED_VALUE
}

/** Texts up to this many bytes are read by `textAt` in JavaScript when they are ASCII (see there). */
const SHORT_TEXT = 8

/**
 * A column's text, `start` to `end` of `buffer`, as UTF-8. Every Buffer decode is a call into Node's C++ with
 * a fixed cost (~55 ns here) whatever the length, which is most of the time for the short texts rows are full of
 * (a status, a small int8, a boolean's 't'): up to 8 ASCII bytes are read here (9 ns for one, 56 for eight).
 */
export function textAt(buffer: Buffer, start: number, end: number): string {
  if (end - start > SHORT_TEXT) return buffer.toString(undefined, start, end)
  let text = ''
  for (let at = start; at < end; at++) {
    const byte = buffer[at] as number
    if (byte > 0x7f) return buffer.toString(undefined, start, end)
    text += String.fromCharCode(byte)
  }
  return text
}

/** `parseInt` of the server's text of an int2, int4 or oid value at `start` to `end` of `buffer`, without the string. */
export function integerAt(buffer: Buffer, start: number, end: number): number {
  let at = start
  const negative = buffer[at] === 0x2d /* - */
  if (negative) at += 1
  let value = 0
  for (; at < end; at++) value = value * 10 + ((buffer[at] as number) - 0x30)
  return negative ? -value : value
}
