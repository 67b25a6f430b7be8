import pg from 'pg'
import { map, type Observable } from 'rxjs'
import { describe, it } from 'vitest'
import { notification, runMarbles } from '../lib/testing/index.js'
import type { DurableLog, ReadOptions } from '../lib/durable/index.js'
import { durableWires } from '../lib/changes/durable-wires.js'
import { namesOf, resolveFeed } from '../lib/changes/feed.js'
import type { InstalledFeed } from '../lib/changes/inspect-feed.js'

// A durable feed's readers read once more one wake window after each wake-up of its channel, for the writers
// that committed inside the window without a NOTIFY of their own; on the scheduler the source gives. Drawn with
// the virtual listener, and a log whose read emits a change each time the reader's own wake-ups do (the log's
// other read moments are its own marble spec, read-triggers); nothing touches the (never connected) pool.

const feed = resolveFeed({ table: 'public.orders', key: ['id'], wakeWindow: 5 })
const names = namesOf(feed)
const installed: InstalledFeed = { feed, names, table: '"public"."orders"', forms: new Map() }

/** A log that emits a change of the feed every time the read's `wakeUps` emit. */
const logReadingOnWakeUps = {
  schema: feed.logSchema,
  read: (_channel: unknown, options: ReadOptions) =>
    (options.wakeUps as Observable<unknown>).pipe(map(() => ({ value: { _tag: 'Right', right: '{"op":"insert"}' }, key: '{"id":1}', token: 't', appendedAt: new Date(0) }))),
} as unknown as DurableLog

describe('durable change feeds', () => {
  it('read one wake window after a wake-up of their channel (several in a window: once), and not for other channels', () =>
    runMarbles(({ virtualListener, scheduler, expectObservable }) => {
      const db = virtualListener({
        channels: { [names.wakeChannel]: '-o--o---x----o' },
        values: { o: notification(names.wakeChannel, names.channel), x: notification(names.wakeChannel, 'changes:public.invoices') },
      })
      const wires = durableWires({ listener: db, pool: new pg.Pool(), log: logReadingOnWakeUps, scheduler }, installed, 'now').pipe(map(() => 'r'))
      expectObservable(wires, '--------------------!').toBe('------r-----------r-')
    }))
})
