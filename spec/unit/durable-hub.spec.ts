// The SSE durable hub's join of a catch-up and the shared live reader, on an in-memory log (the hub's port,
// `read` and `fetch`), where the order in which the log's answers arrive is held in the spec's hands.
import { Observable, Subject, filter, type Subscriber } from 'rxjs'
import { describe, expect, it } from 'vitest'
import type { DurableBatch, DurableMessage } from '../../lib/durable/index.js'
import { encodeToken } from '../../lib/durable/position.js'
import { isPosition, type SourceItem } from '../../lib/sse/source.js'
import { DurableHub, type HubLog } from '../../lib/sse/sources/durable-hub.js'

const tokenOf = (n: number) => encodeToken('memlog', { epoch: 1, tx: BigInt(n), id: BigInt(n) })
const numberOf = (token: string) => Number(token.split('.').at(-1))

/**
 * A log in memory: `append` makes a message visible; every `fetch` waits until the spec releases it (`release`,
 * by what it fetches after), and answers from the messages visible then, as a fetch's snapshot does.
 */
function memoryLog() {
  const messages: Array<DurableMessage<unknown>> = []
  const appended = new Subject<DurableMessage<unknown>>()
  const pending: Array<{ readonly after: string; readonly answer: () => void }> = []
  const after = (token: string) => (token === 'earliest' ? 0 : numberOf(token))
  const log = {
    fetch: (_channel: string, options: { readonly after: string; readonly limit?: number }): Promise<DurableBatch<unknown>> =>
      new Promise((resolve) => {
        pending.push({
          after: options.after,
          answer: () => {
            if (options.after === 'now') return resolve({ messages: [], next: tokenOf(messages.length) })
            const limit = options.limit ?? 1000
            const page = messages.filter((message) => numberOf(message.token) > after(options.after)).slice(0, limit)
            resolve({ messages: page, next: page.length >= limit ? (page.at(-1) as DurableMessage<unknown>).token : tokenOf(messages.length) })
          },
        })
      }),
    read: (_channel: string, options: { readonly from?: string }) =>
      new Observable<DurableMessage<unknown>>((subscriber: Subscriber<DurableMessage<unknown>>) => {
        const from = after(options.from ?? 'earliest')
        for (const message of messages) if (numberOf(message.token) > from) subscriber.next(message)
        return appended.pipe(filter((message) => numberOf(message.token) > from)).subscribe(subscriber)
      }),
  } as unknown as HubLog
  return {
    log,
    append() {
      const n = messages.length + 1
      const message: DurableMessage<unknown> = { token: tokenOf(n), channel: 'items', value: n, partition: 0, appendedAt: new Date(0) }
      messages.push(message)
      appended.next(message)
    },
    /** Answers the first waiting fetch after `what` ('now', or a message number); false when none waits. */
    async release(what: 'now' | 'page'): Promise<boolean> {
      await settle()
      const index = pending.findIndex((fetch) => (what === 'now') === (fetch.after === 'now'))
      if (index < 0) return false
      const [fetch] = pending.splice(index, 1)
      fetch?.answer()
      await settle()
      return true
    },
  }
}

const settle = () => new Promise<void>((resolve) => setImmediate(resolve))

describe('the durable hub', () => {
  it('loses nothing when a lone catch-up that overflowed starts the live reader again, whose start comes after a page', async () => {
    const memory = memoryLog()
    for (let n = 0; n < 10; n++) memory.append()
    const hub = new DurableHub(memory.log, 'items', { pageSize: 2, maxHeldWhileCatchingUp: 1 })
    const values: number[] = []
    const subscription = hub.catchUp(tokenOf(2)).subscribe((item: SourceItem<DurableMessage<unknown>>) => {
      if (!isPosition(item)) values.push(item.value.value as number)
    })
    // The live reader starts after 10; two live messages then overflow the catch-up's hold of one.
    await memory.release('now')
    memory.append()
    memory.append()
    // Its pages run to the end (3-4, 5-6, 7-8, 9-10, 11-12, then none): alone, it starts the live reader again.
    while (values.length < 10) await memory.release('page')
    await memory.release('page') // after 12: nothing new; alone, it starts the live reader again
    // The new live reader's start ('now') is asked. Were the catch-up's next page answered before it (nothing
    // new), and 13 committed in between, the start would be at 13 and the pages past 12: 13 in neither.
    await memory.release('page')
    memory.append()
    await memory.release('now')
    while (await memory.release('page')) {
      // whatever pages the catch-up still reads
    }
    memory.append()
    await settle()
    expect(values).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14])
    subscription.unsubscribe()
  })
})
