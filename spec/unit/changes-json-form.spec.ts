// Reading a trigger's JSON into the documented form: exact digits for bigint and numeric columns, hex bytea,
// and for everything else the same values JSON.parse gives.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { byteaAsHex, parseChangeJson, parseRowJson, type ColumnForm } from '../../lib/changes/json-form.js'

const forms = new Map<string, ColumnForm>([
  ['id', 'exact'],
  ['total', 'exact'],
  ['amounts', 'exact'],
  ['data', 'bytea'],
  ['blobs', 'bytea'],
  ['doc', 'json'],
  ['ratio', 'plain'],
])

describe('the JSON form', () => {
  it('keeps every digit of bigint and numeric columns (scale included), and only theirs', () => {
    const text = '{"id" : 9007199254740993, "total":12345678901234567890.123450, "amounts":[1.50, null, "NaN", 1e400], "ratio": 0.1, "doc": {"n": 12345678901234567890, "total": 1.50}}'
    expect(parseRowJson(text, forms).value).toEqual({
      id: '9007199254740993',
      total: '12345678901234567890.123450',
      amounts: ['1.50', null, 'NaN', '1e400'],
      ratio: 0.1,
      doc: { n: Number('12345678901234567890'), total: 1.5 }, // JSON inside a jsonb value is JSON: a double
    })
  })

  it('reads the rows and keys of a change, and leaves its other members plain', () => {
    const text = '{"op" : "update", "key" : {"id" : 2}, "previousKey" : {"id": 1}, "new" : {"id":2,"total":1.0}, "old" : {"id":1,"total":1.00}, "at": "2026-01-01T00:00:00+00:00", "overflow": true}'
    const { value, unknownColumns } = parseChangeJson(text, forms)
    expect(value).toEqual({ op: 'update', key: { id: '2' }, previousKey: { id: '1' }, new: { id: '2', total: '1.0' }, old: { id: '1', total: '1.00' }, at: '2026-01-01T00:00:00+00:00', overflow: true })
    expect([...unknownColumns]).toEqual([])
  })

  it('names the columns it does not know, and reads them plain, without losing a digit', () => {
    const { value, unknownColumns } = parseRowJson('{"id": 1, "added": 2.5, "scaled": 2.50}', forms)
    expect(value).toEqual({ id: '1', added: 2.5, scaled: '2.50' })
    expect([...unknownColumns]).toEqual(['added', 'scaled'])
  })

  it('never loses a digit: a number that a plain column cannot hold as a double keeps its digits, and names the column', () => {
    // A column read as integer or text whose type has changed since (to bigint or numeric): the change is the
    // evidence, and the reader reads the types again.
    const plain = new Map<string, ColumnForm>(['qty', 'scale', 'small', 'float', 'tiny', 'zero', 'wide', 'inside', 'round'].map((name) => [name, 'plain']))
    // round: a bigint whose shortest double reads back as the same text, though the double is 9223372036854774784.
    const text = '{"qty": 9007199254740993, "scale": 0.10, "small": 5, "float": 1.5e-07, "tiny": 5e-324, "zero": -0, "wide": 1.2345678901234568e+20, "inside": {"n": 12345678901234567890}, "round": 9223372036854775000}'
    const { value, staleColumns } = parseRowJson(text, plain)
    expect(value).toEqual({ qty: '9007199254740993', scale: '0.10', small: 5, float: 1.5e-7, tiny: 5e-324, zero: -0, wide: 1.2345678901234568e20, inside: { n: '12345678901234567890' }, round: '9223372036854775000' })
    expect([...staleColumns]).toEqual(['qty', 'scale', 'inside', 'round'])
  })

  it('names the columns whose values do not fit their form any more, and keeps those values as they are', () => {
    const { value, staleColumns } = parseRowJson('{"id": "abc", "total": "NaN", "data": "h\u00e9llo", "blobs": [7]}', forms)
    expect(value).toEqual({ id: 'abc', total: 'NaN', data: 'h\u00e9llo', blobs: [7] })
    expect([...staleColumns]).toEqual(['id', 'data', 'blobs'])
  })

  it('writes bytea as hex, from the escape format too', () => {
    expect(byteaAsHex('\\x00ff')).toBe('\\x00ff')
    expect(byteaAsHex('ab\\000\\377\\\\z')).toBe('\\x6162' + '00ff' + '5c' + '7a')
    expect(parseRowJson('{"data": "a\\\\001", "blobs": ["\\\\x01", null]}', forms).value).toEqual({ data: '\\x6101', blobs: ['\\x01', null] })
  })

  it('keeps "__proto__" a member, as JSON.parse does', () => {
    const value = parseRowJson('{"doc": {"__proto__": {"polluted": true}}}', forms).value as { doc: object }
    expect(Object.getPrototypeOf(value.doc)).toBe(Object.prototype)
    expect(value.doc).toEqual(JSON.parse('{"__proto__": {"polluted": true}}'))
  })

  it('gives the values JSON.parse gives for columns of plain form, whatever the JSON, but for integers a double cannot hold', () => {
    // JavaScript writes a double of 1e15 or more as the integer it is nearest to, which is not that double;
    // PostgreSQL writes such floats with an exponent, so a long integer in a row is a bigint or a numeric.
    const holdsLongIntegers = (value: unknown): boolean =>
      typeof value === 'number' ? Number.isInteger(value) && Math.abs(value) >= 1e15 : typeof value === 'object' && value !== null && Object.values(value).some(holdsLongIntegers)
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), fc.boolean(), (row, indented) => {
        fc.pre(!holdsLongIntegers(row))
        const text = JSON.stringify(row, null, indented ? 2 : undefined)
        expect(parseRowJson(text, new Map()).value).toEqual(JSON.parse(text))
      }),
    )
  })

  it('refuses text that is not JSON', () => {
    expect(() => parseRowJson('{"id": 1', forms)).toThrow(SyntaxError)
    expect(() => parseRowJson('{"id": 1} x', forms)).toThrow(SyntaxError)
  })
})
