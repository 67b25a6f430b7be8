import { describe, expect, it } from 'vitest'
import { StreamCursor } from '../../lib/sse/stream-cursor.js'

const orders = { name: 'orders', resumable: true }
const audit = { name: 'audit log', resumable: true }
const prices = { name: 'prices', resumable: false }

describe('stream cursor (the SSE id)', () => {
  it('is the token itself for one resumable channel', () => {
    const cursor = new StreamCursor([orders])
    expect(cursor.toString()).toBe('')
    cursor.set('orders', 'rxd1.abc.1.42.7')
    expect(cursor.toString()).toBe('rxd1.abc.1.42.7')
    expect(StreamCursor.plan([orders], 'rxd1.abc.1.42.7')).toEqual({ from: new Map([['orders', 'rxd1.abc.1.42.7']]), missed: [], unrecognised: [] })
  })

  it('holds every channel of a stream of several, and reads them back', () => {
    const cursor = new StreamCursor([orders, audit, prices])
    cursor.set('orders', 'rxd1.abc.1.42.7')
    expect(cursor.toString()).toBe('orders=rxd1.abc.1.42.7&prices=')
    cursor.set('audit log', 't&=%')
    const id = cursor.toString()
    expect(id).toBe('orders=rxd1.abc.1.42.7&audit+log=t%26%3D%25&prices=')
    expect(/[\r\n\0]/.test(id)).toBe(false)
    expect(StreamCursor.plan([orders, audit, prices], id)).toEqual({
      from: new Map([
        ['orders', 'rxd1.abc.1.42.7'],
        ['audit log', 't&=%'],
      ]),
      missed: ['prices'],
      unrecognised: [],
    })
  })

  it('starts a channel added since the id was written afresh, and resets on an id that names none of the channels', () => {
    expect(StreamCursor.plan([orders, audit], 'orders=rxd1.abc.1.42.7')).toEqual({ from: new Map([['orders', 'rxd1.abc.1.42.7']]), missed: [], unrecognised: [] })
    expect(StreamCursor.plan([orders, audit], 'rxd1.abc.1.42.7')).toEqual({ from: new Map(), missed: [], unrecognised: ['orders', 'audit log'] })
  })

  // A trial's page kept the id of a stream of orders and prices, then opened one of orders only: it reset, and
  // reloaded its snapshot, though the id names orders.
  it("resumes a stream of one channel from the position a stream of several gave it (an id that names it)", () => {
    expect(StreamCursor.plan([orders], 'orders=rxd1.abc.1.42.7&prices=')).toEqual({ from: new Map([['orders', 'rxd1.abc.1.42.7']]), missed: [], unrecognised: [] })
    expect(StreamCursor.plan([audit], 'orders=rxd1.abc.1.42.7&audit+log=t%26%3D%25')).toEqual({ from: new Map([['audit log', 't&=%']]), missed: [], unrecognised: [] })
  })

  // Nothing said a live-only channel's events may have been missed when the id was not one of its stream's: a
  // reset for every channel, live-only ones included.
  it('resets live-only channels too on an id that names none of the channels, or holds CR, LF or NUL', () => {
    for (const id of ['rxd1.abc.1.42.7', 'orders=rxd1.abc.1.42.7', 'garbage', 'prices=\nevent: x']) {
      expect(StreamCursor.plan([prices], id)).toEqual({ from: new Map(), missed: [], unrecognised: ['prices'] })
    }
    expect(StreamCursor.plan([orders, prices], 'audit+log=t')).toEqual({ from: new Map(), missed: [], unrecognised: ['orders', 'prices'] })
    expect(StreamCursor.plan([orders, prices], 'orders=rxd1.abc.1.42.7\n')).toEqual({ from: new Map(), missed: [], unrecognised: ['orders', 'prices'] })
    expect(StreamCursor.plan([prices], 'prices=')).toEqual({ from: new Map(), missed: ['prices'], unrecognised: [] })
  })

  it('starts everything afresh without an id', () => {
    for (const id of [undefined, '']) expect(StreamCursor.plan([orders, prices], id)).toEqual({ from: new Map(), missed: [], unrecognised: [] })
  })
})
