// How a durable channel's SSE catch-up reads the log: pages that start small and double while the stream takes
// them whole. A stream paused by a slow client is unsubscribed and opened again from its position each time the
// client drains: with full pages from the start, each opening read a whole page (500 messages of 16 KB: 8 MB)
// to write a few of them, and fifty clients that did not read held hundreds of MB and starved a fast one.
import { take, toArray, firstValueFrom } from 'rxjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { FetchOptions } from '../../lib/durable/index.js'
import type { HubLog } from '../../lib/sse/sources/durable-hub.js'
import { DurableHub } from '../../lib/sse/sources/durable-hub.js'
import { appendAll, durableFixture, horizonPassed, type DurableFixture } from '../support/durable.js'

let fixture: DurableFixture
beforeAll(async () => {
  fixture = await durableFixture('sse_pages')
  await appendAll(fixture.log, 'pages', Array.from({ length: 1000 }, (_, n) => ({ n })), fixture.url)
  await horizonPassed(fixture.url)
})
afterAll(async () => {
  await fixture?.close()
})

/** The log, with every fetch's limit and the messages it returned recorded. */
function recordingLog(): { log: HubLog; fetches: Array<{ limit: number | undefined; returned: number }> } {
  const fetches: Array<{ limit: number | undefined; returned: number }> = []
  const fetch = async (channel: string, options: FetchOptions) => {
    const page = await fixture.log.fetch(channel, options)
    if (options.after !== 'now') fetches.push({ limit: options.limit, returned: page.messages.length })
    return page
  }
  const log: HubLog = { read: fixture.log.read.bind(fixture.log), fetch: fetch as HubLog['fetch'] }
  return { log, fetches }
}

describe('a durable channel catching up over SSE', () => {
  it('reads a small first page, so a stream that takes three messages reads few more', async () => {
    const { log, fetches } = recordingLog()
    const hub = new DurableHub(log, 'pages', { pageSize: 500, maxHeldWhileCatchingUp: 1000 })
    const first = await firstValueFrom(hub.catchUp('earliest').pipe(take(3), toArray()))
    expect(first.map((item) => ('value' in item ? (item.value?.value as { n: number }).n : undefined))).toEqual([0, 1, 2])
    expect(fetches).toEqual([{ limit: 16, returned: 16 }])
  })

  it('doubles its pages up to pageSize while the stream takes them whole, and joins with every message once', async () => {
    const { log, fetches } = recordingLog()
    const hub = new DurableHub(log, 'pages', { pageSize: 500, maxHeldWhileCatchingUp: 1000 })
    const items = await firstValueFrom(hub.catchUp('earliest').pipe(take(1001), toArray()))
    const values = items.flatMap((item) => ('value' in item && item.value !== undefined ? [(item.value.value as { n: number }).n] : []))
    expect(values).toEqual(Array.from({ length: 1000 }, (_, n) => n))
    expect(fetches.map((fetch) => fetch.limit)).toEqual([16, 32, 64, 128, 256, 500, 500])
  })
})
