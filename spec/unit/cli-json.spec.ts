// The JSON the command line prints of decoded values (changes' rows, tail's values): JSON.parse reads a number a
// double cannot hold (a jsonb 1e400) as another one (Infinity), which JSON.stringify printed as null.
import { describe, expect, it } from 'vitest'
import { jsonText, storedNumbers } from '../../lib/cli/stored-json.js'

/** What the command prints of a JSON text it read: the value JSON.parse reads, with the text's numbers. */
const reprinted = (text: string) => jsonText(JSON.parse(text), storedNumbers(text))

describe('jsonText', () => {
  it('is what JSON.stringify prints, for values with finite numbers', () => {
    for (const value of [
      { a: 1, b: 'x\n"\u2028\ud800', c: [1, null, true, undefined, () => 1], d: undefined, e: new Date(0), f: { g: -0, h: 1e21, i: 5e-324 } },
      [],
      {},
      'text',
      12.5,
      null,
      [[[]], [{}]],
    ]) {
      expect(jsonText(value)).toBe(JSON.stringify(value))
    }
  })

  it('prints a number as stored in the text it was read from, where the double read from it is another number', () => {
    const text = '{"big": 1e400, "small": -1E+400, "tiny": 1e-400, "long": 9007199254740993, "fraction": 0.10000000000000000001, "list": [1e400, [2e-400, 3]], "s": "1e400"}'
    expect(reprinted(text)).toBe('{"big":1e400,"small":-1E+400,"tiny":1e-400,"long":9007199254740993,"fraction":0.10000000000000000001,"list":[1e400,[2e-400,3]],"s":"1e400"}')
    expect(reprinted('1e400')).toBe('1e400')
    expect(reprinted(` [ 1${'0'.repeat(400)} ] `)).toBe(`[1${'0'.repeat(400)}]`)
  })

  it('prints a number a double holds as JavaScript does, whatever its form in the text', () => {
    expect(reprinted('{"same": 1.50, "hundred": 1e2, "zero": -0, "tenth": 0.1, "max": 9007199254740991, "e": 1E+21}')).toBe('{"same":1.5,"hundred":100,"zero":0,"tenth":0.1,"max":9007199254740991,"e":1e+21}')
  })

  it('finds the members as JSON.parse does: the last of a name given twice, escaped names, __proto__', () => {
    expect(reprinted('{"a": 1e400, "a": 2, "\\u0062": 1e400, "__proto__": -1e400, "o": {"a": 3, "a": 1e400}}')).toBe('{"a":2,"b":1e400,"__proto__":-1e400,"o":{"a":1e400}}')
  })

  it('takes a stored number only for the value read from it', () => {
    expect(jsonText({ a: 5, b: [1, 2], c: 'x' }, storedNumbers('{"a": 1e400, "b": [1e400], "c": 1e400}'))).toBe('{"a":5,"b":[1,2],"c":"x"}')
    expect(jsonText({ a: { b: Infinity } }, storedNumbers('{"a": [1e400]}'))).toBe('{"a":{"b":1e999}}')
  })

  it('prints a number beyond a double\'s range with no text to take it from as 1e999 or -1e999, and NaN as null', () => {
    expect(jsonText({ a: Infinity, b: [-Infinity], c: NaN })).toBe('{"a":1e999,"b":[-1e999],"c":null}')
    expect(JSON.parse(jsonText({ a: Infinity, b: [-Infinity] }))).toEqual({ a: Infinity, b: [-Infinity] })
  })

  it('reads nothing from a text that is not JSON', () => {
    for (const text of ['{"a": ', '{"a": 1e400} x', 'nope', '[1,]', '"open']) expect(storedNumbers(text), text).toBeUndefined()
  })
})
