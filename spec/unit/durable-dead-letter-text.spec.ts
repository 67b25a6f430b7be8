// The dead letter's JSON text: the message's stored value spliced in as it was (not parsed and written again),
// and the error's text in ASCII, so that the set-aside never fails on a character the database cannot hold.
import { describe, expect, it } from 'vitest'
import { deadLetterText } from '../../lib/durable/dead-letter.js'
import type { PageRow } from '../../lib/durable/page.js'

const by = { channel: 'orders', group: 'billing', member: 'm1' }
const row = (text: string, key: string | null = 'k'): PageRow => ({ epoch: 1, tx: '10', id: '3', partition: 0, key, text, appendedMs: Date.UTC(2026, 11, 1) })

describe('deadLetterText', () => {
  it('keeps the stored value as it was, a number a double cannot hold included', () => {
    const stored = '{"n": 12345678901234567890, "s": "é"}'
    const text = deadLetterText(by, 'rxd1.x.1.10.3', row(stored), 3, new Error('no'))
    expect(text).toContain(`"value":${stored},`)
    expect(JSON.parse(text)).toEqual({
      channel: 'orders',
      token: 'rxd1.x.1.10.3',
      key: 'k',
      group: 'billing',
      member: 'm1',
      value: JSON.parse(stored),
      appendedAt: '2026-12-01T00:00:00.000Z',
      attempts: 3,
      error: { name: 'Error', message: 'no' },
    })
  })

  it("writes the error's text in ASCII, with its string code, whatever was thrown", () => {
    const failure = Object.assign(new TypeError('Łódź: \u0000 and \ud800'), { code: '23505' })
    const text = deadLetterText(by, 't', row('null', null), 1, failure)
    expect(text.slice(text.indexOf('"error"'))).toMatch(/^[\x20-\x7e]*$/)
    expect(JSON.parse(text).error).toEqual({ name: 'TypeError', message: 'Łódź: \u0000 and \ud800', code: '23505' })
    expect(JSON.parse(text).key).toBeNull()
    expect(JSON.parse(deadLetterText(by, 't', row('1'), 1, 'a string')).error).toEqual({ name: 'string', message: 'a string' })
    expect(JSON.parse(deadLetterText(by, 't', row('1'), 1, Object.create(null))).error).toEqual({ name: 'object', message: '(a value that cannot be printed)' })
    expect(JSON.parse(deadLetterText(by, 't', row('1'), 1, { code: 42 })).error).toEqual({ name: 'object', message: '[object Object]' })
    // The SQLSTATE of an rxpg error (in its info) and of a pg error (its code, with a severity).
    const rxpgError = Object.assign(new Error('Durable log consume commit failed'), { code: 'DURABLE_QUERY_FAILED', info: { sqlState: '23505' } })
    expect(JSON.parse(deadLetterText(by, 't', row('1'), 1, rxpgError)).error).toMatchObject({ code: 'DURABLE_QUERY_FAILED', sqlState: '23505' })
    const pgError = Object.assign(new Error('division by zero'), { code: '22012', severity: 'ERROR' })
    expect(JSON.parse(deadLetterText(by, 't', row('1'), 1, pgError)).error).toMatchObject({ code: '22012', sqlState: '22012' })
  })
})
