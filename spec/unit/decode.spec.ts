// Asynchronous Standard Schema validation needs real Promises, which marble specs cannot hold: these specs
// drive the order by resolving each validation by hand.
import { Subject } from 'rxjs'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { decode, decodeValid, type PgNotification, type StandardSchemaV1 } from '../../lib/index.js'
import { controlledSchema, flushPromises } from '../support/controlled-schema.js'

const note = (payload: string): PgNotification => ({ channel: 'jobs', payload, processId: 1, receivedAt: 0 })

describe('decode with asynchronous Standard Schema validation', () => {
  it('emits results in arrival order when a later value validates first', async () => {
    const { schema, settle } = controlledSchema()
    const source = new Subject<PgNotification>()
    const seen: unknown[] = []
    source.pipe(decodeValid(schema)).subscribe((value) => seen.push(value))

    source.next(note('"slow-1"'))
    source.next(note('"quick"'))
    source.next(note('"slow-2"'))
    await flushPromises()
    expect(seen).toEqual([])

    settle('slow-2')
    await flushPromises()
    expect(seen).toEqual([])

    settle('slow-1')
    await flushPromises()
    expect(seen).toEqual(['slow-1', 'quick', 'slow-2'])
  })

  it('emits synchronously while no validation is pending', () => {
    const { schema } = controlledSchema()
    const source = new Subject<PgNotification>()
    const seen: unknown[] = []
    source.pipe(decodeValid(schema)).subscribe((value) => seen.push(value))
    source.next(note('"quick"'))
    expect(seen).toEqual(['quick'])
  })

  it('completes only after the pending validations have been emitted', async () => {
    const { schema, settle } = controlledSchema()
    const source = new Subject<PgNotification>()
    const events: unknown[] = []
    source.pipe(decodeValid(schema)).subscribe({ next: (value) => events.push(value), complete: () => events.push('complete') })

    source.next(note('"slow-1"'))
    source.complete()
    await flushPromises()
    expect(events).toEqual([])

    settle('slow-1')
    await flushPromises()
    expect(events).toEqual(['slow-1', 'complete'])
  })

  it('passes a source error on at once, without waiting for pending validations', async () => {
    const { schema, settle } = controlledSchema()
    const source = new Subject<PgNotification>()
    const events: unknown[] = []
    source.pipe(decodeValid(schema)).subscribe({ next: (value) => events.push(value), error: (error: Error) => events.push(error.message) })

    source.next(note('"slow-1"'))
    source.error(new Error('gone'))
    expect(events).toEqual(['gone'])
    settle('slow-1')
    await flushPromises()
    expect(events).toEqual(['gone'])
  })

  it('emits nothing more once unsubscribed, even when a validation settles later', async () => {
    const { schema, settle } = controlledSchema()
    const source = new Subject<PgNotification>()
    const seen: unknown[] = []
    const subscription = source.pipe(decodeValid(schema)).subscribe((value) => seen.push(value))

    source.next(note('"slow-1"'))
    subscription.unsubscribe()
    expect(source.observed).toBe(false)
    settle('slow-1')
    await flushPromises()
    expect(seen).toEqual([])
  })

  it('turns a rejected validation into a Left', async () => {
    const failing: StandardSchemaV1<unknown, number> = {
      '~standard': { version: 1, vendor: 'spec', validate: () => Promise.reject(new Error('validator service down')) },
    }
    const source = new Subject<PgNotification>()
    const seen: unknown[] = []
    source.pipe(decode(failing)).subscribe((value) => seen.push(value))
    source.next(note('1'))
    await flushPromises()
    expect(seen).toEqual([
      { _tag: 'Left', left: expect.objectContaining({ info: expect.objectContaining({ messages: ['the decoder threw: validator service down'] }) }) },
    ])
  })

  it("handles zod's async refinements, in order", async () => {
    const known = new Set(['ada', 'grace'])
    const User = z.object({ name: z.string().refine(async (name) => known.has(name), 'unknown user') })
    const source = new Subject<PgNotification>()
    const seen: unknown[] = []
    source.pipe(decode(User)).subscribe((result) => seen.push(result._tag === 'Right' ? result.right.name : result.left.info.messages))

    source.next(note('{"name":"ada"}'))
    source.next(note('{"name":"eve"}'))
    source.next(note('{"name":"grace"}'))
    source.next(note('{"name":7}'))
    await flushPromises()
    expect(seen).toEqual(['ada', ['name: unknown user'], 'grace', ['name: Invalid input: expected string, received number']])
  })
})

describe('decode with a Standard Schema whose validate returns something else than a result', () => {
  /** A hand-written adapter: `validate` gives back what `answer` says, for every input. */
  const schemaAnswering = (answer: (input: unknown) => unknown): StandardSchemaV1<unknown, { id: number }> => ({
    '~standard': { version: 1, vendor: 'hand-written', validate: answer as StandardSchemaV1<unknown, { id: number }>['~standard']['validate'] },
  })

  it('gives a Left saying so, for undefined, a typo ({ data }) and a non-object, synchronously or not; the stream goes on', async () => {
    const source = new Subject<PgNotification>()
    const seen: unknown[] = []
    const answers: unknown[] = [undefined, { data: { id: 1 } }, 42, { issues: 'bad' }, Promise.resolve(undefined), { value: { id: 3 } }]
    let call = 0
    source.pipe(decode(schemaAnswering(() => answers[call++]))).subscribe((value) => seen.push(value))
    for (let index = 0; index < answers.length; index++) source.next(note('{"id":1}'))
    await flushPromises()
    const notAResult = ['the decoder returned something that is not a Standard Schema result']
    expect(seen.map((either) => ((either as { _tag: string })._tag === 'Left' ? (either as { left: { info: { messages: string[] } } }).left.info.messages : either))).toEqual([
      notAResult,
      notAResult,
      notAResult,
      notAResult,
      notAResult,
      { _tag: 'Right', right: { id: 3 } },
    ])
  })
})

describe('decode with a function decoder that returns a Promise', () => {
  it('gives a Left (not an Either), and a rejection of the Promise is not left unhandled', async () => {
    const source = new Subject<PgNotification>()
    const seen: unknown[] = []
    const asyncDecoder = (async (input: unknown) => {
      throw new Error(`rejected ${JSON.stringify(input)}`)
    }) as never
    const unhandled: unknown[] = []
    const onUnhandled = (reason: unknown) => unhandled.push(reason)
    process.on('unhandledRejection', onUnhandled)
    source.pipe(decode(asyncDecoder)).subscribe((value) => seen.push(value))
    source.next(note('{"id":1}'))
    await flushPromises()
    process.off('unhandledRejection', onUnhandled)
    expect((seen[0] as { left: { info: { messages: string[] } } }).left.info.messages).toEqual(['the decoder returned something that is not an Either'])
    expect(unhandled).toEqual([])
  })
})
