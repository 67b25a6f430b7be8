// When append's batch can travel as one newline-joined text (one channel, no keys, no raw newline in a
// value's JSON text), and when it must travel as arrays.
import { describe, expect, it } from 'vitest'
import { joinedValues } from '../../lib/durable/joined-values.js'

const item = (text: string, channel = 'orders', key?: string) => ({ channel, key, text })

describe('joinedValues', () => {
  it('joins the JSON texts of one channel without keys, in order', () => {
    const texts = [JSON.stringify({ a: 1 }), JSON.stringify('line one\nline two'), JSON.stringify('"quoted" \\ back\rslash'), '[]']
    const joined = joinedValues(texts.map((text) => item(text)))
    expect(joined).toBe(texts.join('\n'))
    // JSON.stringify escapes the newline inside a string value, so splitting on raw newlines gives the texts back.
    expect(joined?.split('\n')).toEqual(texts)
  })

  it('refuses a batch with more than one channel', () => {
    expect(joinedValues([item('1'), item('2', 'other')])).toBeUndefined()
  })

  it('refuses a batch where any value has a key', () => {
    expect(joinedValues([item('1'), item('2', 'orders', 'k')])).toBeUndefined()
  })

  it('refuses a batch where a value text holds a raw newline (pretty-printed JSON)', () => {
    expect(joinedValues([item('1'), item('{\n  "a": 1\n}')])).toBeUndefined()
  })

  it('refuses an empty batch', () => {
    expect(joinedValues([])).toBeUndefined()
  })
})
