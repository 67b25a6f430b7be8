/**
 * The pgoutput decoder's readers of the commonest column types: taken only where pg's own parser is in place,
 * and giving what that parser gives.
 */
import pg from 'pg'
import { describe, expect, it } from 'vitest'
import { columnReaderOf, integerAt, INTEGER_VALUE, PARSED_VALUE, textAt, TEXT_VALUE } from '../../lib/replication/pg/column-readers.js'

const parserOf = (oid: number) => pg.types.getTypeParser(oid, 'text') as (text: string) => unknown

describe('replication column readers', () => {
  it("reads int2, int4 and oid from the bytes, and int8, text, varchar, char, name, numeric, uuid and inet as text, with pg's parsers (the installed pg's)", () => {
    for (const oid of [21, 23, 26]) expect(columnReaderOf(oid, parserOf(oid))).toBe(INTEGER_VALUE)
    // Types pg has no parser for (numeric, uuid, inet) are text too: pg gives their text.
    for (const oid of [20, 25, 1043, 1042, 19, 1700, 2950, 869]) expect(columnReaderOf(oid, parserOf(oid))).toBe(TEXT_VALUE)
  })

  it('calls the parser of every other type, and any parser that is not pg’s, whatever the type', () => {
    for (const oid of [16, 700, 701, 1082, 1114, 1184, 114, 3802, 17, 1007, 1016]) expect(columnReaderOf(oid, parserOf(oid))).toBe(PARSED_VALUE)
    expect(columnReaderOf(23, (text) => Number(text))).toBe(PARSED_VALUE)
    expect(columnReaderOf(25, (text) => text)).toBe(PARSED_VALUE)
    // pg's integer parser on a type whose text is not only digits (numeric: '12.50') is called, not read as digits.
    expect(columnReaderOf(1700, parserOf(23))).toBe(PARSED_VALUE)
  })

  it('reads integers as parseInt does, at their bounds and in the middle of a buffer', () => {
    for (const text of ['0', '7', '-1', '-32768', '32767', '-2147483648', '2147483647', '4294967295', '1000000']) {
      const buffer = Buffer.from(`ab${text}cd`)
      expect(integerAt(buffer, 2, 2 + text.length)).toBe(Number.parseInt(text, 10))
    }
  })

  it('reads texts as UTF-8, short and long, ASCII or not', () => {
    for (const text of ['', 't', '12345678', '123456789', 'héllo', 'é', '✓', '😀', 'a\u0000b', 'ascii then é', 'x'.repeat(160)]) {
      const buffer = Buffer.from(`ab${text}cd`)
      expect(textAt(buffer, 2, buffer.length - 2)).toBe(text)
    }
  })
})
