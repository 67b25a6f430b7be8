// A message its handler keeps failing on (a poison message) is set aside into a dead-letter channel after
// `deadLetter.maxAttempts` failures, in the transaction that moves the group's cursor past it: the other messages
// of its batch are applied once each, and the group goes on. Before, a poison message held every partition of its
// member for ever, and the docs' way out was a hand-written savepoint recipe with an attempts table.
import type pg from 'pg'
import { z } from 'zod'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { defineChannel, InvalidChannelNameError } from '../../lib/index.js'
import { type DeadLetter, type DurableConsumer, type DurableMessage } from '../../lib/durable/index.js'
import { eventually } from '../support/database.js'
import { durableFixture, horizonPassed, type DurableFixture } from '../support/durable.js'
import { createLedger, type Ledger } from '../../support/durable/ledger.js'
import { collect } from '../support/listener.js'

let fixture: DurableFixture
let ledger: Ledger
const running: DurableConsumer[] = []

beforeAll(async () => {
  fixture = await durableFixture('durable_dead_letter', { pollInterval: 200 })
  ledger = await createLedger(fixture.schema, fixture.url)
})
afterAll(async () => {
  await Promise.all(running.map((consumer) => consumer.stop()))
  await fixture.close()
})

/** Appends `values` in one transaction, so that a consumer starting afterwards reads them in one batch. */
const appendAll = (channel: string, values: ReadonlyArray<{ seq: number; poison?: boolean }>) =>
  fixture.log.transaction(async (client) => {
    const tokens: string[] = []
    for (const value of values) tokens.push(await fixture.log.append(channel, value, { client, key: `k${value.seq}` }))
    return tokens
  })

const seqs = (from: number, to: number, poison: number) => Array.from({ length: to - from + 1 }, (_, i) => ({ seq: from + i, poison: from + i === poison }))

/**
 * Every message of the dead-letter channel, from the first: once the horizon passed them (another spec's
 * transaction on the shared server may hold it back, and a read sees only what is below it).
 */
const deadLetters = async (channel: string) => {
  await horizonPassed(fixture.url)
  return (await fixture.log.fetch(channel, { after: 'earliest' })).messages as ReadonlyArray<DurableMessage<DeadLetter>>
}

/** A handler that records its messages and fails every batch holding a poison message; counts its calls per token. */
function billing(member: string) {
  const calls = new Map<string, number>()
  /** When each message was appended, as the handler was given it. */
  const appendedAt = new Map<string, Date>()
  const sizes: number[] = []
  const handler = async (messages: ReadonlyArray<DurableMessage<unknown>>, client: pg.PoolClient) => {
    sizes.push(messages.length)
    for (const message of messages) {
      calls.set(message.token, (calls.get(message.token) ?? 0) + 1)
      appendedAt.set(message.token, message.appendedAt)
    }
    await ledger.record(messages, client, member)
    const poison = messages.find((message) => (message.value as { poison?: boolean }).poison)
    if (poison) throw new Error(`cannot bill order ${(poison.value as { seq: number }).seq}`)
  }
  return { calls, appendedAt, sizes, handler }
}

describe('dead letters', () => {
  it('sets a poison message aside after maxAttempts, applies the rest of its batch once, and goes on in batches', async () => {
    const tokens = await appendAll('orders', seqs(1, 10, 5))
    const { calls, appendedAt, sizes, handler } = billing('a')
    const consumer = fixture.log.consume('orders', 'billing', handler, { retryDelay: 10, member: 'a', deadLetter: { channel: 'orders.dead', maxAttempts: 3 } })
    running.push(consumer)
    const events = collect(consumer.events$)
    await eventually(() => consumer.stats.deadLettered === 1, () => `nothing set aside: ${JSON.stringify(sizes)}`)
    await eventually(async () => (await ledger.count()) === 9, () => `${consumer.stats.messages} committed`)
    expect(await ledger.duplicates()).toEqual([])
    expect((await ledger.tokens()).sort()).toEqual(tokens.filter((_, i) => i !== 4).sort())
    // The whole batch failed once; then one message at a time: the poison one twice more (3 attempts in all).
    expect(sizes[0]).toBe(10)
    expect(calls.get(tokens[4] as string)).toBe(3)

    const [dead, ...more] = await deadLetters('orders.dead')
    expect(more).toEqual([])
    expect(dead?.key).toBe('k5')
    expect(dead?.value).toEqual({
      channel: 'orders',
      group: 'billing',
      member: 'a',
      token: tokens[4],
      key: 'k5',
      value: { seq: 5, poison: true },
      appendedAt: expect.any(String),
      attempts: 3,
      error: { name: 'Error', message: 'cannot bill order 5' },
    })
    // When the message was appended (not when it was set aside), as the handler was given it.
    expect(dead?.value.appendedAt).toBe(appendedAt.get(tokens[4] as string)?.toISOString())
    const setAside = events.values.filter((event) => event.kind === 'dead-lettered')
    expect(setAside).toEqual([{ kind: 'dead-lettered', token: tokens[4], deadLetterToken: dead?.token, attempts: 3, error: new Error('cannot bill order 5') }])
    expect(events.values.filter((event) => event.kind === 'handler-failed')).toHaveLength(3)

    // Later messages come in batches again.
    await appendAll('orders', seqs(11, 15, 0))
    await eventually(async () => (await ledger.count()) === 14, () => `${consumer.stats.messages} committed`)
    expect(sizes.at(-1)).toBe(5)
    await consumer.stop()

    // The set-aside committed with the cursor: a member of the group started afresh does not see it again.
    const again = billing('b')
    const next = fixture.log.consume('orders', 'billing', again.handler, { retryDelay: 10, member: 'b', deadLetter: { channel: 'orders.dead', maxAttempts: 3 } })
    running.push(next)
    const [last] = await appendAll('orders', [{ seq: 16 }])
    await eventually(async () => (await ledger.count()) === 15, () => `${next.stats.messages} committed`)
    expect([...again.calls.keys()]).toEqual([last])
    expect(await deadLetters('orders.dead')).toHaveLength(1)
    await next.stop()
  })

  it('sets aside two poison messages of one batch, keeping the order of the others of their key', async () => {
    const tokens = await fixture.log.transaction(async (client) => {
      const appended: string[] = []
      for (let seq = 1; seq <= 8; seq++) appended.push(await fixture.log.append('one-key', { seq, poison: seq === 3 || seq === 6 }, { client, key: 'customer-1' }))
      return appended
    })
    const applied: number[] = []
    const consumer = fixture.log.consume(
      'one-key',
      'g',
      (messages) => {
        const poison = messages.find((message) => (message.value as { poison: boolean }).poison)
        if (poison) throw new Error(`poison ${(poison.value as { seq: number }).seq}`)
        applied.push(...messages.map((message) => (message.value as { seq: number }).seq))
      },
      { retryDelay: 10, deadLetter: { channel: 'one-key.dead', maxAttempts: 2 } },
    )
    running.push(consumer)
    await eventually(() => consumer.stats.messages === 6 && consumer.stats.deadLettered === 2, () => JSON.stringify(consumer.stats))
    expect(applied).toEqual([1, 2, 4, 5, 7, 8])
    const dead = await deadLetters('one-key.dead')
    expect(dead.map((message) => [message.key, message.value.token, message.value.attempts, message.value.error.message])).toEqual([
      ['customer-1', tokens[2], 2, 'poison 3'],
      ['customer-1', tokens[5], 2, 'poison 6'],
    ])
    await consumer.stop()
  })

  it('with maxAttempts 1 and batches of one, sets a message aside at its first failure', async () => {
    const tokens = await appendAll('single', seqs(1, 3, 2))
    const { calls, handler } = billing('s')
    const consumer = fixture.log.consume('single', 'g', handler, { batchSize: 1, retryDelay: 10, deadLetter: { channel: 'single.dead', maxAttempts: 1 } })
    running.push(consumer)
    await eventually(() => consumer.stats.deadLettered === 1 && consumer.stats.messages === 2, () => JSON.stringify(consumer.stats))
    expect([...calls.values()]).toEqual([1, 1, 1])
    const [dead] = await deadLetters('single.dead')
    expect(dead?.value).toMatchObject({ token: tokens[1], attempts: 1 })
    await consumer.stop()
  })

  it("sets aside a typed channel's message as it was stored, whatever its decoder made of it", async () => {
    const Order = defineChannel('typed-orders', z.object({ seq: z.number() }))
    // Stored by an older writer, before the schema: the decoder refuses it. The next decodes, without its note
    // (the schema strips keys it does not name), and the handler refuses it.
    await fixture.log.append('typed-orders', { seq: '7' })
    await fixture.log.append('typed-orders', { seq: 8, note: 'kept' })
    const consumer = fixture.log.consume(
      Order,
      'g',
      (messages) => {
        for (const message of messages) {
          if (message.value._tag === 'Left') throw new Error(message.value.left.message)
          if (message.value.right.seq === 8) throw new Error(`refused: ${JSON.stringify(message.value.right)}`)
        }
      },
      { retryDelay: 10, deadLetter: { channel: 'typed-orders.dead', maxAttempts: 2 } },
    )
    running.push(consumer)
    await eventually(() => consumer.stats.deadLettered === 2, () => JSON.stringify(consumer.stats))
    const dead = await deadLetters('typed-orders.dead')
    expect(dead.map((message) => message.value.value)).toEqual([{ seq: '7' }, { seq: 8, note: 'kept' }])
    expect(dead[1]?.value.error).toEqual({ name: 'Error', message: 'refused: {"seq":8}' })
    await consumer.stop()
  })

  it('refuses a dead-letter option it cannot honour, saying what it takes', () => {
    const handler = () => undefined
    const consume = (deadLetter: unknown) => () => fixture.log.consume('orders', 'g', handler, { deadLetter } as never)
    expect(consume({ channel: 'orders', maxAttempts: 3 })).toThrow(/deadLetter\.channel must be another channel than the one consumed \("orders"\)/)
    for (const maxAttempts of [0, 1.5, -1, '3', undefined, Number.NaN]) expect(consume({ channel: 'orders.dead', maxAttempts })).toThrow(RangeError)
    expect(consume({ channel: 'orders.dead', maxAttempts: 3, after: 2 })).toThrow(/deadLetter has no option "after"/)
    expect(consume('orders.dead')).toThrow(TypeError)
    expect(consume({ channel: '', maxAttempts: 3 })).toThrow(InvalidChannelNameError)
    expect(consume({ channel: 'x'.repeat(64), maxAttempts: 3 })).toThrow(InvalidChannelNameError)
  })
})
