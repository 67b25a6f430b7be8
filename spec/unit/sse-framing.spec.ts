import { createParser, type EventSourceMessage } from 'eventsource-parser'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { eventFrame, utf8Length } from '../../lib/sse/framing.js'

/** What an SSE parser (the one rxpg/browser uses) makes of a text. */
function parse(text: string): EventSourceMessage[] {
  const events: EventSourceMessage[] = []
  createParser({ onEvent: (event) => void events.push(event) }).feed(text)
  return events
}

/** Payloads rich in what breaks framing: line breaks of every kind, spaces, colons, field names, unicode. */
const payload = fc
  .array(fc.oneof(fc.constantFrom('\n', '\r', '\r\n', '\n\n', ' ', ':', 'data: x', 'id: 1', 'event: e', '', '🎉', 'é', '\u2028'), fc.string({ unit: 'binary' })), { maxLength: 12 })
  .map((parts) => parts.join(''))

describe('SSE framing', () => {
  it('delivers every payload as sent, CR and CRLF arriving as LF', () => {
    fc.assert(
      fc.property(payload, (data) => {
        const events = parse(eventFrame('orders', data, 'rxd1.a.1.2.3'))
        expect(events).toEqual([{ id: 'rxd1.a.1.2.3', event: 'orders', data: data.replace(/\r\n|\r/g, '\n') }])
      }),
      { numRuns: 2000 },
    )
  })

  it('keeps consecutive events apart', () => {
    fc.assert(
      fc.property(fc.array(payload, { minLength: 1, maxLength: 5 }), (payloads) => {
        const text = payloads.map((data, index) => eventFrame('e', data, String(index))).join('')
        expect(parse(text).map((event) => event.data)).toEqual(payloads.map((data) => data.replace(/\r\n|\r/g, '\n')))
      }),
    )
  })

  it('dispatches an empty payload, and keeps a leading space', () => {
    expect(parse(eventFrame('e', ''))).toEqual([{ id: undefined, event: 'e', data: '' }])
    expect(parse(eventFrame('e', ' x'))).toEqual([{ id: undefined, event: 'e', data: ' x' }])
    expect(eventFrame('e', 'a\nb', '7')).toBe('id: 7\nevent: e\ndata: a\ndata: b\n\n')
  })

  it('counts UTF-8 bytes as TextEncoder does', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        expect(utf8Length(text)).toBe(new TextEncoder().encode(text).byteLength)
      }),
    )
    expect(utf8Length('a\u0000é€🎉')).toBe(1 + 1 + 2 + 3 + 4)
  })
})
