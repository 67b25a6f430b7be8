// What a message can hold and how it is typed: JSON values of any size (16 MB here), typed channels with the
// decoders plain channels use, failures as values, the batched append$ sink, and the pull bridges.
import pg from 'pg'
import { firstValueFrom, take, toArray } from 'rxjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { createPuller, DecodeError, defineChannel, InvalidSinkValueError, toAsyncIterable, type RxpgError } from '../../lib/index.js'
import { AppendFailedError, InvalidDurableValueError, validMessages, type DurableAppend } from '../../lib/durable/index.js'
import { controlledSchema, flushPromises } from '../support/controlled-schema.js'
import { eventually } from '../support/database.js'
import { durableFixture, fetchAll, horizonPassed, type DurableFixture } from '../support/durable.js'

let fixture: DurableFixture

beforeAll(async () => {
  fixture = await durableFixture('durable_values')
})
afterAll(async () => {
  await fixture.close()
})

describe('values', () => {
  it('keeps a 16 MB value exactly, through append, read and fetch (nothing travels in a NOTIFY)', async () => {
    const { log } = fixture
    const big = { blob: 'x'.repeat(16 * 1024 * 1024), unicode: 'żółć 🚀', nested: { n: 1 } }
    const reader = firstValueFrom(log.read('big', { from: 'now' }))
    const token = await log.append('big', big)
    await horizonPassed(fixture.url)
    const [fetched] = (await log.fetch('big', { after: 'earliest' })).messages
    expect(fetched?.token).toBe(token)
    expect(fetched?.value).toEqual(big)
    expect((await reader).value).toEqual(big)
  })

  it("reads exactly whatever type parsers the application set globally on pg (pages are parsed by rxpg, not by pg's parsers)", async () => {
    const { log } = fixture
    await log.append('parsed-globally', { n: 1, at: '2026-01-01T00:00:00Z' }, { key: 'k' })
    await log.append('parsed-globally', [1, 'two'])
    await horizonPassed(fixture.url)
    const expected = (await log.fetch('parsed-globally', { after: 'earliest' })).messages
    expect(expected).toHaveLength(2)
    // Parsers an application may well set (int8 as BigInt, json with a reviver) and some no application should,
    // for every type a page holds: none of them may reach a page.
    const overridden = { 20: BigInt, 21: (text: string) => `int2 ${text}`, 23: (text: string) => `int4 ${text}`, 701: (text: string) => `float8 ${text}`, 114: () => ({ parsedBy: 'the application' }) }
    const defaults = Object.keys(overridden).map((oid) => [Number(oid), pg.types.getTypeParser(Number(oid))] as const)
    for (const [oid, parse] of Object.entries(overridden)) pg.types.setTypeParser(Number(oid), parse)
    try {
      expect((await log.fetch('parsed-globally', { after: 'earliest' })).messages).toEqual(expected)
      expect(await firstValueFrom(log.read('parsed-globally', { from: 'earliest' }).pipe(take(2), toArray()))).toEqual(expected)
    } finally {
      for (const [oid, parse] of defaults) pg.types.setTypeParser(oid, parse)
    }
  })

  it('refuses values with no JSON form before anything is written', async () => {
    const { log } = fixture
    await expect(log.append('bad-values', undefined)).rejects.toBeInstanceOf(InvalidDurableValueError)
    await expect(log.append('bad-values', () => 1)).rejects.toBeInstanceOf(InvalidDurableValueError)
    await expect(log.append('bad-values', { n: 1n })).rejects.toBeInstanceOf(InvalidDurableValueError)
    await expect(log.append('', 1)).rejects.toMatchObject({ code: 'INVALID_CHANNEL_NAME' })
    expect(await fetchAll(log, 'bad-values')).toEqual([])
  })
})

describe('typed channels', () => {
  const Order = defineChannel('typed-orders', z.object({ id: z.number(), total: z.number() }))

  it('appends validated values and reads them as Eithers, a bad row as a Left carrying its DecodeError', async () => {
    const { log } = fixture
    await log.append(Order, { id: 1, total: 9.5 })
    await expect(log.append(Order, { id: 2 } as never)).rejects.toBeInstanceOf(DecodeError)
    await log.append('typed-orders', { id: 'not a number' }) // written by someone who skipped the codec
    await log.append(Order, { id: 3, total: 1 })
    const read = await firstValueFrom(log.read(Order, { from: 'earliest' }).pipe(take(3), toArray()))
    expect(read.map((m) => m.value._tag)).toEqual(['Right', 'Left', 'Right'])
    const bad = read[1]!.value
    expect(bad._tag === 'Left' && bad.left.info.messages.join()).toContain('id')
    const page = await log.fetch(Order, { after: 'earliest' })
    expect(page.messages.map((m) => m.value._tag)).toEqual(['Right', 'Left', 'Right'])

    const invalid: string[] = []
    const valid = await firstValueFrom(
      log.read(Order, { from: 'earliest' }).pipe(
        validMessages((error, message) => invalid.push(`${message.token}: ${error.code}`)),
        take(2),
        toArray(),
      ),
    )
    expect(valid.map((m) => m.value)).toEqual([
      { id: 1, total: 9.5 },
      { id: 3, total: 1 },
    ])
    expect(invalid).toEqual([`${read[1]!.token}: DECODE_FAILED`])
  })

  it('writes in call order when validation is asynchronous and a later value validates first', async () => {
    const { log } = fixture
    const { schema, settle } = controlledSchema()
    const Events = defineChannel('typed-async-order', schema)
    // The first validates last; a plain append after them waits its turn too.
    const tokens = [log.append(Events, 'slow-placed', { key: '7' }), log.append(Events, 'shipped', { key: '7' }), log.append('typed-async-order', 'plain', { key: '7' })]
    await flushPromises()
    settle('slow-placed')
    await Promise.all(tokens)
    await horizonPassed(fixture.url)
    const page = await log.fetch('typed-async-order', { after: 'earliest' })
    expect(page.messages.map((message) => message.value)).toEqual(['slow-placed', 'shipped', 'plain'])
    expect(page.messages.map((message) => message.token)).toEqual(await Promise.all(tokens))
  })
})

describe('keys', () => {
  it('takes a null key as no key, alone, in a batch with keyed neighbours, and in a transaction (JavaScript callers pass null)', async () => {
    const { log } = fixture
    const noKey = null as unknown as undefined
    await log.append('null-key', 'alone', { key: noKey })
    await log.transaction((client) => log.append('null-key', 'in a transaction', { key: noKey, client }))
    const errors: RxpgError[] = []
    const subscription = log.errors$.subscribe((error) => errors.push(error))
    log.append$.next({ channel: 'null-key', value: 'a', key: 'k' })
    log.append$.next({ channel: 'null-key', value: 'b', key: noKey })
    log.append$.next({ channel: 'null-key', value: 'c' })
    await eventually(async () => (await fetchAll(log, 'null-key')).length === 5 || errors.length > 0, () => 'not all appended')
    subscription.unsubscribe()
    expect(errors).toEqual([])
    await horizonPassed(fixture.url)
    const { messages } = await log.fetch('null-key', { after: 'earliest', limit: 10 })
    expect(messages.map((message) => [message.value, message.key ?? null])).toEqual([
      ['alone', null],
      ['in a transaction', null],
      ['a', 'k'],
      ['b', null],
      ['c', null],
    ])
  })
})

describe('append$', () => {
  it('writes in call order, many per statement, and reports failures on errors$', async () => {
    const { log } = fixture
    const errors: RxpgError[] = []
    const subscription = log.errors$.subscribe((error) => errors.push(error))
    for (let i = 0; i < 2500; i++) log.append$.next({ channel: 'sink', value: i, key: `k${i % 7}` })
    log.append$.next({ channel: 'sink', value: undefined })
    log.append$.next({ channel: 'sink', value: { n: 1n } })
    const cycle: { self?: unknown } = {}
    cycle.self = cycle
    log.append$.next({ channel: 'sink', value: cycle })
    log.append$.next({ channel: 'sink', value: 'bad key', key: 'a\0b' })
    log.append$.complete() // ignored: the sink stays open
    log.append$.next({ channel: 'sink', value: 'after complete' })
    await eventually(async () => (await fetchAll(log, 'sink')).length === 2501, () => 'not all appended')
    const values = (await fetchAll(log, 'sink')).map((m) => m.value)
    expect(values).toEqual([...Array.from({ length: 2500 }, (_, i) => i), 'after complete'])
    expect(errors.map((error) => error.code)).toEqual(['DURABLE_INVALID_VALUE', 'DURABLE_INVALID_VALUE', 'DURABLE_INVALID_VALUE', 'DURABLE_INVALID_VALUE'])
    subscription.unsubscribe()
  })

  it('writes a batch of one channel without keys (one joined text) exactly and in call order, tokens in order, over every partition', async () => {
    const { log } = fixture
    const awkward = ['line one\nline two', 'carriage\rreturn', '"quoted" and \\backslash\\', 'tab\there', 'żółć 🚀', '', '{"looks": "like json"}']
    const values = Array.from({ length: 1200 }, (_, i) => (i % 10 === 0 ? { i, text: awkward[(i / 10) % awkward.length] } : i))
    for (const value of values.slice(0, 1000)) log.append$.next({ channel: 'joined', value })
    // Awaited appends queued behind them: one batch, with tokens returned in call order.
    const tokens = await Promise.all(values.slice(1000).map((value) => log.append('joined', value)))
    await horizonPassed(fixture.url)
    const messages = await fetchAll(log, 'joined')
    expect(messages.map((m) => m.value)).toEqual(values)
    expect(messages.slice(1000).map((m) => m.token)).toEqual(tokens)
    // A value without a key goes to any of the channel's partitions (16 by default): all of them are used.
    const { rows } = await fixture.pool.query<{ parts: number }>(`SELECT count(DISTINCT part)::int AS parts FROM "${fixture.schema}".durable_log WHERE channel = 'joined'`)
    expect(rows[0]?.parts).toBe(16)
  })

  it('writes a long burst in overlapping transactions in call order; a batch the server refuses fails alone', async () => {
    const log = fixture.openLog({ appendBatch: { maxBatchSize: 100 } })
    const errors: RxpgError[] = []
    const subscription = log.errors$.subscribe((error) => errors.push(error))
    // The server refuses the row holding "poison" (a trigger of this spec), so its whole batch fails.
    await fixture.pool.query(`CREATE FUNCTION "${fixture.schema}".poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'poisoned'; END $$;
      CREATE TRIGGER poison AFTER INSERT ON "${fixture.schema}".durable_log FOR EACH ROW
      WHEN (NEW.channel = 'burst' AND NEW.value::text = '"poison"') EXECUTE FUNCTION "${fixture.schema}".poison()`)
    try {
      // Queued at once: batches of 100 (2,500-2,599 holds the poison), written while others are in flight.
      for (let i = 0; i < 5000; i++) log.append$.next({ channel: 'burst', value: i === 2550 ? 'poison' : i })
      // One error per value lost: the 100 of the refused batch.
      await eventually(() => errors.length === 100, () => `${errors.length} errors`)
      await log.append('burst', 'last') // settles after every batch queued before it
      await horizonPassed(fixture.url)
      const values = (await fetchAll(log, 'burst')).map((m) => m.value)
      expect(values).toEqual([...Array.from({ length: 2500 }, (_, i) => i), ...Array.from({ length: 2400 }, (_, i) => 2600 + i), 'last'])
      expect(errors.every((error) => error instanceof AppendFailedError && error.info.channel === 'burst' && error.info.outcome === 'not-sent')).toBe(true)
      expect(errors[0]?.info).toMatchObject({ detail: expect.stringContaining('poisoned') })
    } finally {
      subscription.unsubscribe()
      await fixture.pool.query(`DROP TRIGGER poison ON "${fixture.schema}".durable_log`)
    }
  })

  it('refuses values that are not a { channel, value } object on errors$, without throwing into the producer', async () => {
    const log = fixture.openLog()
    const errors: RxpgError[] = []
    const subscription = log.errors$.subscribe((error) => errors.push(error))
    for (const value of [null, 'sink-shape', ['sink-shape', 1]]) {
      expect(() => log.append$.next(value as unknown as DurableAppend)).not.toThrow()
    }
    await log.append('sink-shape', 'marker')
    subscription.unsubscribe()
    expect(errors.map((error) => error.message)).toEqual([
      'append$.next() takes an object { channel, value, key? }; got null: refused, nothing sent.',
      'append$.next() takes an object { channel, value, key? }; got a string ("sink-shape"): refused, nothing sent.',
      'append$.next() takes an object { channel, value, key? }; got an array: refused, nothing sent.',
    ])
    expect(errors.every((error) => error instanceof InvalidSinkValueError)).toBe(true)
    expect((await fetchAll(log, 'sink-shape')).map((message) => message.value)).toEqual(['marker'])
  })

  it('reports a batch the database refused on errors$, with the typed error', async () => {
    const missing = fixture.openLog({ schema: `${fixture.schema}_not_installed` })
    const errors = firstValueFrom(missing.errors$)
    missing.append$.next({ channel: 'sink', value: 1 })
    expect(await errors).toMatchObject({ code: 'DURABLE_SCHEMA_MISSING', info: { reason: 'missing' } })
    await expect(missing.append('sink', 2)).rejects.not.toBeInstanceOf(AppendFailedError)
  })
})

describe('pull bridges', () => {
  it('works with toAsyncIterable (for await) and createPuller (tryNext)', async () => {
    const { log } = fixture
    for (let i = 0; i < 5; i++) await log.append('pull', i)
    const seen: unknown[] = []
    for await (const message of toAsyncIterable(log.read('pull', { from: 'earliest' }))) {
      seen.push(message.value)
      if (seen.length === 5) break
    }
    expect(seen).toEqual([0, 1, 2, 3, 4])

    const puller = createPuller(log.read('pull', { from: 'earliest' }))
    await eventually(() => puller.buffered === 5, () => `buffered ${puller.buffered}`)
    expect(puller.tryNext()?.value).toBe(0)
    expect(puller.drain().map((m) => m.value)).toEqual([1, 2, 3, 4])
    expect(puller.tryNext()).toBeUndefined()
    await log.append('pull', 5)
    await eventually(() => puller.buffered === 1, () => 'live value not pulled')
    expect(puller.tryNext()?.value).toBe(5)
    puller.close()
  })
})
