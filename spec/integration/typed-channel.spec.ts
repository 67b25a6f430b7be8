import * as E from 'fp-ts/Either'
import { Subject, firstValueFrom, take, toArray } from 'rxjs'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { z } from 'zod'
import {
  DecodeError,
  InvalidChannelNameError,
  PayloadTooLargeError,
  createPgListener,
  defineChannel,
  type MetricsRecorder,
  type NotificationToSend,
  type PgListener,
  type PgNotification,
} from '../../lib/index.js'
import { databaseUrl, uniqueName } from '../support/database.js'
import { controlledSchema, flushPromises } from '../support/controlled-schema.js'

const Order = z.object({ id: z.number(), total: z.number() })

/** Records what would be sent; `channel` serves the given Subject. */
function fakeListener() {
  const sent: [string, string | undefined][] = []
  const sunk: NotificationToSend[] = []
  const incoming = new Subject<PgNotification>()
  const counts = { decodeFailures: 0 }
  const metrics = {
    recordDecodeFailure: (n = 1) => void (counts.decodeFailures += n),
    recordDropped: () => undefined,
    snapshot: () => {
      throw new Error('not used')
    },
  }
  const listener: Pick<PgListener, 'notify' | 'notify$' | 'channel' | 'metrics'> = {
    notify: async (channel, payload) => void sent.push([channel, payload]),
    notify$: { next: (n) => void sunk.push(n), error: () => undefined, complete: () => undefined },
    channel: () => incoming,
    metrics,
  }
  return { listener, sent, sunk, incoming, counts }
}

const note = (payload: string): PgNotification => ({ channel: 'orders', payload, processId: 1, receivedAt: 0 })


describe('defineChannel', () => {
  it('refuses an invalid channel name when it is defined', () => {
    expect(() => defineChannel('', Order)).toThrow(InvalidChannelNameError)
    expect(() => defineChannel('x'.repeat(64), Order)).toThrow(InvalidChannelNameError)
  })

  it('sends a valid value as JSON', async () => {
    const { listener, sent } = fakeListener()
    await defineChannel('orders', Order).send(listener, { id: 1, total: 9.5 })
    expect(sent).toEqual([['orders', '{"id":1,"total":9.5}']])
  })

  it('refuses a value that does not pass the decoder, with a DecodeError, and sends nothing', async () => {
    const { listener, sent } = fakeListener()
    const refused = await defineChannel('orders', Order)
      .send(listener, { id: 1 } as never)
      .catch((error: unknown) => error)
    expect(refused).toBeInstanceOf(DecodeError)
    expect(refused).toMatchObject({
      code: 'DECODE_FAILED',
      info: { channel: 'orders', payload: '{"id":1}', messages: ['total: Invalid input: expected number, received undefined'], direction: 'send' },
    })
    expect(sent).toEqual([])
  })

  it('checks the value as a receiver will see it: a Date does not survive JSON for z.date()', async () => {
    const { listener, sent } = fakeListener()
    const Stamp = defineChannel('stamps', z.object({ at: z.date() }))
    await expect(Stamp.send(listener, { at: new Date(0) })).rejects.toBeInstanceOf(DecodeError)
    expect(sent).toEqual([])
  })

  it('sends a value whose JSON form decodes back to it through a transform', async () => {
    const { listener, sent } = fakeListener()
    const Stamp = defineChannel('stamps', z.object({ at: z.iso.datetime().transform((s) => new Date(s)) }))
    await Stamp.send(listener, { at: new Date('2024-01-02T03:04:05Z') })
    expect(sent).toEqual([['stamps', '{"at":"2024-01-02T03:04:05.000Z"}']])
  })

  it('refuses a value JSON cannot encode, keeping what was thrown as cause', async () => {
    const { listener, sent } = fakeListener()
    const Big = defineChannel('big', z.object({ n: z.bigint() }))
    const refused = await Big.send(listener, { n: 1n }).catch((error: unknown) => error)
    expect(refused).toMatchObject({ info: { payload: '', messages: [expect.stringMatching(/^encoding failed: /)] } })
    expect((refused as DecodeError).cause).toBeInstanceOf(TypeError)
    const Anything = defineChannel('anything', z.unknown())
    await expect(Anything.send(listener, undefined)).rejects.toMatchObject({ info: { messages: ['the value has no JSON form (JSON.stringify gave undefined)'] } })
    expect(sent).toEqual([])
  })

  it("encodes with an io-ts codec's encode, also for raw-string payloads (json: false)", async () => {
    const { listener, sent } = fakeListener()
    // io-ts's NumberFromString: a number travels as its decimal text.
    const NumberFromString = {
      decode: (u: unknown) => {
        const n = typeof u === 'string' && u.trim() !== '' ? Number(u) : Number.NaN
        return Number.isNaN(n) ? E.left('expected a number as text') : E.right(n)
      },
      encode: (n: number) => String(n),
    }
    const Count = defineChannel('count', NumberFromString, { json: false })
    await Count.send(listener, 42)
    await expect(Count.send(listener, Number.NaN)).rejects.toMatchObject({ info: { payload: 'NaN', messages: ['expected a number as text'] } })
    expect(sent).toEqual([['count', '42']])
  })

  it('refuses a non-string encoding when json is false', async () => {
    const { listener } = fakeListener()
    const Raw = defineChannel('raw', (u: unknown) => E.right(u), { json: false })
    await expect(Raw.send(listener, 5)).rejects.toMatchObject({ info: { messages: ['with json: false the encoded value must be a string, got number'] } })
  })

  it('uses the encode option to choose the outgoing form', async () => {
    const { listener, sent } = fakeListener()
    const Ids = defineChannel('ids', z.array(z.number()), { encode: (ids) => [...ids].sort((a, b) => a - b) })
    await Ids.send(listener, [3, 1, 2])
    expect(sent).toEqual([['ids', '[1,2,3]']])
  })

  it('passes on the listener refusing to send', async () => {
    const listener = { notify: () => Promise.reject(new PayloadTooLargeError({ channel: 'orders', byteLength: 9000, limit: 7999 })) }
    await expect(defineChannel('orders', Order).send(listener, { id: 1, total: 1 })).rejects.toBeInstanceOf(PayloadTooLargeError)
  })

  it('keeps call order when a validation is asynchronous', async () => {
    const { schema, settle } = controlledSchema()
    const { listener, sent } = fakeListener()
    const Words = defineChannel('words', schema)
    const first = Words.send(listener, 'slow-1')
    const second = Words.send(listener, 'quick')
    const refused = Words.send(listener, 7 as never).catch((error: unknown) => error)
    await flushPromises()
    expect(sent).toEqual([])
    settle('slow-1')
    await Promise.all([first, second])
    expect(sent).toEqual([
      ['words', '"slow-1"'],
      ['words', '"quick"'],
    ])
    expect(await refused).toBeInstanceOf(DecodeError)
    // Once nothing waits, sends are direct again.
    await Words.send(listener, 'later')
    expect(sent.at(-1)).toEqual(['words', '"later"'])
  })

  it('gives the payload it would send, without sending', async () => {
    const Orders = defineChannel('orders', Order)
    expect(await Orders.payloadOf({ id: 2, total: 3 })).toBe('{"id":2,"total":3}')
    await expect(Orders.payloadOf({ id: 2 } as never)).rejects.toBeInstanceOf(DecodeError)
  })
})

describe('a typed channel sink', () => {
  it('hands valid values to notify$ and invalid ones to onError', () => {
    const { listener, sunk } = fakeListener()
    const errors: DecodeError[] = []
    const sink = defineChannel('orders', Order).sink(listener, { onError: (error) => errors.push(error) })
    sink.next({ id: 1, total: 2 })
    sink.next({ id: 'x' } as never)
    sink.error(new Error('ignored'))
    sink.complete()
    sink.next({ id: 3, total: 4 })
    expect(sunk).toEqual([
      { channel: 'orders', payload: '{"id":1,"total":2}' },
      { channel: 'orders', payload: '{"id":3,"total":4}' },
    ])
    expect(errors.map((error) => error.info.payload)).toEqual(['{"id":"x"}'])
  })

  it('reports an invalid value as a process warning when no onError is given', () => {
    const { listener, sunk } = fakeListener()
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined)
    try {
      defineChannel('orders', Order).sink(listener).next({} as never)
      expect(warn).toHaveBeenCalledWith(expect.any(DecodeError))
      expect(sunk).toEqual([])
    } finally {
      warn.mockRestore()
    }
  })

  it('keeps call order when a validation is asynchronous', async () => {
    const { schema, settle } = controlledSchema()
    const { listener, sunk } = fakeListener()
    const sink = defineChannel('words', schema).sink(listener)
    sink.next('slow-1')
    sink.next('quick')
    await flushPromises()
    expect(sunk).toEqual([])
    settle('slow-1')
    await flushPromises()
    expect(sunk.map((n) => n.payload)).toEqual(['"slow-1"', '"quick"'])
  })
})

describe('listening to a typed channel', () => {
  it("gives Eithers and counts failures in the listener's metrics", async () => {
    const { listener, incoming, counts } = fakeListener()
    const results = firstValueFrom(defineChannel('orders', Order).listen(listener).pipe(take(2), toArray()))
    incoming.next(note('{"id":1,"total":2}'))
    incoming.next(note('{"id":1}'))
    const [good, bad] = await results
    expect(good).toEqual(E.right({ id: 1, total: 2 }))
    expect(bad).toMatchObject({ _tag: 'Left', left: { info: { direction: 'receive' } } })
    expect(counts.decodeFailures).toBe(1)
  })

  it('gives valid values, and the others to onInvalid, counted in the metrics given', async () => {
    const { listener, incoming } = fakeListener()
    let counted = 0
    const metrics: MetricsRecorder = { recordDecodeFailure: () => void (counted += 1), recordDropped: () => undefined }
    const invalid: string[] = []
    const values = firstValueFrom(
      defineChannel('orders', Order)
        .listenValid(listener, { onInvalid: (error) => invalid.push(error.info.payload), metrics })
        .pipe(take(1)),
    )
    incoming.next(note('oops'))
    incoming.next(note('{"id":5,"total":6}'))
    expect(await values).toEqual({ id: 5, total: 6 })
    expect(invalid).toEqual(['oops'])
    expect(counted).toBe(1)
  })
})

describe('typed channels on a real PostgreSQL', () => {
  const listeners: PgListener[] = []
  afterEach(async () => {
    await Promise.all(listeners.splice(0).map((listener) => listener.close()))
  })

  it('round-trips typed values, refuses invalid ones before sending, and counts bad payloads', async () => {
    const db = createPgListener(databaseUrl())
    listeners.push(db)
    const Orders = defineChannel(uniqueName('typed-orders'), Order)
    const received = firstValueFrom(Orders.listen(db).pipe(take(3), toArray()))

    await Orders.send(db, { id: 1, total: 10 })
    await expect(Orders.send(db, { id: 2, total: 'ten' } as never)).rejects.toBeInstanceOf(DecodeError)
    await db.notify(Orders.name, '{"id":"not a number"}')
    Orders.sink(db).next({ id: 3, total: 30 })

    const [first, second, third] = await received
    expect(first).toEqual(E.right({ id: 1, total: 10 }))
    expect(second).toMatchObject({ _tag: 'Left', left: { info: { channel: Orders.name, payload: '{"id":"not a number"}' } } })
    expect(third).toEqual(E.right({ id: 3, total: 30 }))
    expect(db.metrics.snapshot().decodeFailures).toBe(1)
  })

  it('passes on PostgreSQL refusing a payload that is too large, having sent nothing', async () => {
    const db = createPgListener(databaseUrl())
    listeners.push(db)
    const Notes = defineChannel(uniqueName('typed-notes'), z.object({ text: z.string() }))
    await expect(Notes.send(db, { text: 'x'.repeat(8000) })).rejects.toBeInstanceOf(PayloadTooLargeError)
  })
})
