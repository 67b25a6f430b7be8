import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { Observable } from 'rxjs'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { startEmbeddedServer, type EmbeddedServer } from '../../support/embedded-server.js'
import {
  createPgListener,
  InvalidChannelNameError,
  InvalidPayloadError,
  InvalidSinkValueError,
  ListenerClosedError,
  NotifyQueueFullError,
  PayloadTooLargeError,
  type NotificationToSend,
  type PgListener,
  type RxpgError,
} from '../../lib/index.js'
import { pgTransport } from '../../lib/pg/pg-transport.js'
import type { DISPATCHED, NotifyTransport, OutgoingNotification } from '../../lib/ports/notify-transport.js'
import { databaseUrl, eventually } from '../support/database.js'
import { isUserChannel } from '../support/observed-source.js'
import { collect, payloads, stateOf } from '../support/listener.js'
import { embeddedVersion } from '../support/global-setup.js'

const open: PgListener[] = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((db) => db.close()))
})

/** The real pg transport, with every round trip it makes recorded. */
function countedTransport(url: string): NotifyTransport & { readonly batches: OutgoingNotification[][] } {
  const real = pgTransport(url)
  const batches: OutgoingNotification[][] = []
  return {
    batches,
    processIds: real.processIds,
    send: (batch) =>
      new Observable<typeof DISPATCHED>((subscriber) => {
        if (batch.some((n) => isUserChannel(n.channel))) batches.push([...batch])
        return real.send(batch).subscribe(subscriber)
      }),
    end: () => real.end(),
  }
}

function listener(options: Parameters<typeof createPgListener>[1] = {}, url = databaseUrl()): PgListener {
  const db = createPgListener(url, options)
  open.push(db)
  return db
}

describe('notify: bad input', () => {
  const cases: Array<[string, string, string, new (...args: never[]) => RxpgError, object]> = [
    ['an empty channel name', '', 'x', InvalidChannelNameError, { reason: 'empty', limit: 63 }],
    ['a 64-byte channel name', 'é'.repeat(32), 'x', InvalidChannelNameError, { reason: 'too-long', byteLength: 64, limit: 63 }],
    ['a channel name with NUL', 'a\0b', 'x', InvalidChannelNameError, { reason: 'contains-nul' }],
    ['a payload with NUL', 'bad-input', 'a\0b', InvalidPayloadError, { reason: 'contains-nul' }],
    ['an 8000-byte payload', 'bad-input', '€'.repeat(2666) + 'xx', PayloadTooLargeError, { byteLength: 8000, limit: 7999 }],
    ['a lone surrogate', 'bad-input', '\ud800', InvalidPayloadError, { reason: 'malformed-unicode' }],
  ]

  for (const [what, channel, payload, type, info] of cases) {
    it(`refuses ${what} with a typed error naming the limit, and sends nothing`, async () => {
      const db = listener()
      const received = collect(db.channel('bad-input'))
      await stateOf(db, 'connected')
      const refusal = await db.notify(channel, payload).then(
        () => undefined,
        (error: unknown) => error,
      )
      expect(refusal).toBeInstanceOf(type)
      expect((refusal as RxpgError).info).toMatchObject(info)
      await db.notify('bad-input', 'marker')
      await eventually(() => received.values.length >= 1, () => 'marker not received')
      expect(payloads(received.values)).toEqual(['marker'])
    })
  }

  it('emits errors of notify$.next() on errors$', async () => {
    const db = listener()
    const errors = collect(db.errors$)
    db.notify$.next({ channel: '', payload: 'x' })
    db.notify$.next({ channel: 'ok', payload: 'x'.repeat(8000) })
    expect(errors.values.map((e) => e.code)).toEqual(['INVALID_CHANNEL_NAME', 'PAYLOAD_TOO_LARGE'])
  })

  it('refuses notify$ values that are not a { channel, payload } object, and sends nothing for them', async () => {
    const db = listener()
    const errors = collect(db.errors$)
    const received = collect(db.channel('p'))
    await stateOf(db, 'connected')
    // What JavaScript callers get wrong: a bare channel name (it sent an empty payload on it), a tuple, nothing.
    for (const value of ['p', ['p', 'x'], null, undefined, 42]) db.notify$.next(value as unknown as NotificationToSend)
    await db.notify('p', 'marker')
    await eventually(() => received.values.length >= 1, () => 'marker not received')
    expect(payloads(received.values)).toEqual(['marker'])
    expect(errors.values.map((error) => error.code)).toEqual(Array(5).fill('INVALID_SINK_VALUE'))
    expect(errors.values[0]).toBeInstanceOf(InvalidSinkValueError)
    expect(errors.values[0]?.message).toBe('notify$.next() takes an object { channel, payload? }; got a string ("p"): refused, nothing sent.')
    expect(errors.values.slice(1).map((error) => error.message.split('; ')[1])).toEqual(['got an array: refused, nothing sent.', 'got null: refused, nothing sent.', 'got undefined: refused, nothing sent.', 'got a number: refused, nothing sent.'])
    expect(db.metrics.snapshot().sendFailures).toBe(5)
  })

  it('emits them as a process warning when nothing subscribes to errors$, so they never vanish', async () => {
    const db = listener()
    // Caught here rather than printed, so the test run's log stays clean.
    const emitWarning = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined)
    try {
      db.notify$.next({ channel: 'x'.repeat(64) })
      expect(emitWarning).toHaveBeenCalledTimes(1)
      expect(emitWarning.mock.calls[0]?.[0]).toBeInstanceOf(InvalidChannelNameError)
    } finally {
      emitWarning.mockRestore()
    }
  })

  it('refuses a null payload from notify$ exactly as notify() does (a missing one is the empty payload)', async () => {
    const db = listener()
    const errors = collect(db.errors$)
    const received = collect(db.channel('null-payload'))
    await stateOf(db, 'connected')
    db.notify$.next({ channel: 'null-payload', payload: null as unknown as string })
    const refusal = await db.notify('null-payload', null as unknown as string).catch((error: unknown) => error)
    db.notify$.next({ channel: 'null-payload' })
    await db.notify('null-payload', 'marker')
    expect(errors.values).toHaveLength(1)
    expect(errors.values[0]).toBeInstanceOf(InvalidPayloadError)
    expect(errors.values[0]?.info).toEqual({ channel: 'null-payload', reason: 'not-a-string' })
    expect(refusal).toEqual(errors.values[0])
    await eventually(() => received.values.length === 2, () => `received ${received.values.length}`)
    expect(payloads(received.values)).toEqual(['', 'marker'])
  })

  it('ignores error() and complete() from a producer, so one producer cannot close the shared sink', async () => {
    const db = listener()
    const received = collect(db.channel('shared-sink'))
    await stateOf(db, 'connected')
    db.notify$.complete()
    db.notify$.error(new Error('producer failed'))
    await db.notify('shared-sink', 'still open')
    await eventually(() => received.values.length === 1, () => 'not received')
  })
})

describe('notify: exactly once, in order, batched', () => {
  it('produces one notification per call, in call order, identical payloads included', async () => {
    const db = listener()
    const received = collect(db.channel('exact'))
    await stateOf(db, 'connected')
    const sent = Array.from({ length: 2000 }, (_, i) => String(i % 5 === 0 ? 'same' : i % 11))
    for (const payload of sent) db.notify$.next({ channel: 'exact', payload })
    await eventually(() => received.values.length >= sent.length, () => `received ${received.values.length} of ${sent.length}`)
    await db.notify('exact', 'end')
    await eventually(() => received.values.at(-1)?.payload === 'end', () => 'end marker not received')
    expect(payloads(received.values)).toEqual([...sent, 'end'])
  })

  it('sends calls made together in one round trip', async () => {
    const transport = countedTransport(databaseUrl())
    const db = listener({ transport })
    const received = collect(db.channel('batched'))
    await stateOf(db, 'connected')
    const calls = Array.from({ length: 1000 }, (_, i) => db.notify('batched', `m${i}`))
    await Promise.all(calls)
    expect(transport.batches.map((batch) => batch.length)).toEqual([1000])
    await eventually(() => received.values.length === 1000, () => `received ${received.values.length}`)
  })

  it('ends a batch before a repeated (channel, payload) pair, which PostgreSQL would fold into one', async () => {
    const transport = countedTransport(databaseUrl())
    const db = listener({ transport })
    const received = collect(db.channel('repeats'))
    await stateOf(db, 'connected')
    await Promise.all(['a', 'b', 'a', 'c', 'a', 'a'].map((payload) => db.notify('repeats', payload)))
    expect(transport.batches.map((batch) => batch.map((n) => n.payload))).toEqual([['a', 'b'], ['a', 'c'], ['a'], ['a']])
    await eventually(() => received.values.length === 6, () => `received ${received.values.length}`)
    expect(payloads(received.values)).toEqual(['a', 'b', 'a', 'c', 'a', 'a'])
  })
})

describe('notify: while the sending connection is down', () => {
  let server: EmbeddedServer
  beforeAll(async () => {
    server = await startEmbeddedServer(embeddedVersion())
  })
  afterAll(async () => {
    await server?.destroy()
  })

  it('queues what is sent during an outage, refuses past maxQueue, and flushes in order on reconnect', { timeout: 60_000 }, async () => {
    const db = listener({ notify: { maxQueue: 3 } }, server.url)
    const received = collect(db.channel('queued'))
    await stateOf(db, 'connected')
    await db.notify('queued', 'before')
    // Received before the server stops: committed is not delivered yet, and a notification the listening backend
    // has not sent when the server shuts down is lost (CI lost 'before' this way once).
    await eventually(() => received.values.length === 1, () => 'before was not received')
    await server.stop()

    const pending = ['q1', 'q2', 'q3'].map((payload) => db.notify('queued', payload))
    const settled = pending.map(() => false)
    pending.forEach((promise, i) => void promise.finally(() => (settled[i] = true)))
    await expect(db.notify('queued', 'overflow')).rejects.toBeInstanceOf(NotifyQueueFullError)
    expect(db.metrics.snapshot().queueDepth).toBe(3)
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(settled).toEqual([false, false, false])

    await server.start()
    await Promise.all(pending)
    await eventually(() => received.values.length === 4, () => `received ${JSON.stringify(payloads(received.values))}`, 30_000)
    expect(payloads(received.values)).toEqual(['before', 'q1', 'q2', 'q3'])
    expect(received.errors).toEqual([])
  })
})

describe('close', () => {
  it('sends what is queued, then completes every channel and state$, and refuses later sends', async () => {
    const db = createPgListener(databaseUrl())
    const a = collect(db.channel('close-a'))
    const b = collect(db.channel('close-b'))
    const states = collect(db.state$)
    await stateOf(db, 'connected')
    const sends = [db.notify('close-a', '1'), db.notify('close-b', '2')]
    await db.close()
    await expect(Promise.all(sends)).resolves.toEqual([undefined, undefined])
    expect(a.completed && b.completed && states.completed).toBe(true)
    expect(states.values.at(-1)).toEqual({ status: 'closed' })
    await expect(db.notify('close-a', 'late')).rejects.toBeInstanceOf(ListenerClosedError)
    expect(collect(db.channel('close-a')).completed).toBe(true)
    await db.close()
  })

  it('lets a script that used everything exit on its own (await using)', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'spec/integration/fixtures/close-and-exit.ts', databaseUrl()], {
      timeout: 20_000,
    })
    expect(stdout).toContain('received; closing via await using')
  })
})
