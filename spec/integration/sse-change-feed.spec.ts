// A table change feed over SSE with resumableSource and `start`, as docs/sse.md shows it, on a real PostgreSQL:
// a fresh client is open at once on a quiet table, and one that reconnects after a change made while it was away
// gets it, once. Before `start`, such a client never opened (no position before the first change), and a
// reconnection started afresh from 'now', missing what changed meanwhile (a new user's trial).
import { filter, firstValueFrom } from 'rxjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fromServerSentEvents, type ServerSentEvent } from '../../lib/browser/index.js'
import { changeFeedChannel, tableChanges, type JsonRow, type TableChange } from '../../lib/changes/index.js'
import { resumableSource } from '../../lib/sse/index.js'
import { eventually } from '../support/database.js'
import { changesFixture, type ChangesFixture } from '../support/changes.js'
import { startSseServer } from '../support/sse.js'

let fixture: ChangesFixture
beforeAll(async () => {
  fixture = await changesFixture('sse_change_feed')
})
afterAll(async () => {
  await fixture.close()
})

const channels = { orders: (value: unknown) => ({ _tag: 'Right' as const, right: value as TableChange<JsonRow> }) }
type OrderEvent = ServerSentEvent<typeof channels>
const ids = (events: OrderEvent[]) => events.flatMap((event) => (event.type === 'message' ? [event.value.key['id']] : []))

describe('a table change feed over SSE', () => {
  it('opens a fresh client at once on a quiet table, and resumes after a change made while it was away', async () => {
    await fixture.sql(`CREATE TABLE ${fixture.table('sse_orders')} (id int PRIMARY KEY, status text)`)
    const feed = await fixture.install({ table: 'sse_orders' })
    const { listener, pool, log } = fixture
    const server = await startSseServer({
      channels: {
        orders: resumableSource({
          open: (from) => tableChanges({ listener, pool, log }, { ...feed, from }),
          token: (change) => change.token as string,
          start: async () => (await log.fetch(changeFeedChannel(feed), { after: 'now', limit: 1 })).next,
        }),
      },
    })
    try {
      const first = fromServerSentEvents(server.url, { channels, backoff: { initialDelay: 5, maxDelay: 50, jitter: 0 } })
      const received: OrderEvent[] = []
      let subscription = first.subscribe((event) => void received.push(event))
      // Open before any change: the ready event carried the feed's position of now.
      await firstValueFrom(first.state$.pipe(filter((state) => state.status === 'open')))
      expect(first.lastEventId).toEqual(expect.any(String))
      await fixture.sql(`INSERT INTO ${fixture.table('sse_orders')} VALUES (1, 'placed')`)
      await eventually(() => ids(received).length === 1, () => `${ids(received).length} received`)
      // Away: a change is made; back with the position it had.
      subscription.unsubscribe()
      await fixture.sql(`INSERT INTO ${fixture.table('sse_orders')} VALUES (2, 'placed')`)
      subscription = first.subscribe((event) => void received.push(event))
      await fixture.sql(`INSERT INTO ${fixture.table('sse_orders')} VALUES (3, 'placed')`)
      await eventually(() => ids(received).length === 3, () => `${ids(received).length} received`)
      expect(ids(received)).toEqual([1, 2, 3])
      subscription.unsubscribe()
    } finally {
      await server.close()
    }
  })
})
