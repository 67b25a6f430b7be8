// stoppedCarrying: what a running reader's check of its feed makes of the catalog's facts. A feed dropped, its table
// dropped, or its carrier switched stops the reader; a rename or a move (the function's triggers on a table of
// another name) does not.
import { describe, expect, it } from 'vitest'
import type { TableFacts } from '../../lib/changes/catalog.js'
import { FEED_FORMAT_VERSION, namesOf, resolveFeed } from '../../lib/changes/feed.js'
import { FEED_COMMENT_PREFIX } from '../../lib/changes/feed-sql.js'
import type { InstalledFeed } from '../../lib/changes/inspect-feed.js'
import { stoppedCarrying } from '../../lib/changes/watch-feed.js'

const feed = resolveFeed({ table: 'public.orders', key: ['id'] })
const installed: InstalledFeed = { feed, names: namesOf(feed), table: '"public"."orders"', forms: new Map() }
const commentOf = (carrier: 'durable' | 'light') => `${FEED_COMMENT_PREFIX}${JSON.stringify({ ...resolveFeed({ table: 'public.orders', key: ['id'], carrier }), format: FEED_FORMAT_VERSION })}`

const facts = (over: Partial<TableFacts>): TableFacts => ({
  serverVersionNum: 180000,
  tableExists: true,
  primaryKey: ['id'],
  functionComment: commentOf('durable'),
  triggers: [],
  functionTables: [['public', 'orders']],
  otherFeeds: [],
  tree: undefined,
  ...over,
})

describe('stoppedCarrying', () => {
  it('lets a feed that still carries the changes, on the table or on the table renamed, go on', () => {
    expect(stoppedCarrying(facts({}), installed)).toBeUndefined()
    expect(stoppedCarrying(facts({ tableExists: false, functionTables: [['archive', 'orders_2026']] }), installed)).toBeUndefined()
  })

  it('stops a reader whose feed was dropped, whose table was dropped, or whose triggers are gone', () => {
    expect(stoppedCarrying(facts({ functionComment: undefined }), installed)?.info).toMatchObject({ reason: 'missing', detail: expect.stringMatching(/was dropped while this reader read it/) })
    expect(stoppedCarrying(facts({ tableExists: false, functionTables: [] }), installed)?.info).toMatchObject({ reason: 'no-table' })
    expect(stoppedCarrying(facts({ functionTables: [] }), installed)?.info).toMatchObject({ reason: 'missing', detail: expect.stringMatching(/no trigger calls its function/) })
  })

  it('stops a reader whose feed was switched to the other carrier', () => {
    const stopped = stoppedCarrying(facts({ functionComment: commentOf('light') }), installed)
    expect(stopped?.info).toMatchObject({ reason: 'different', differences: ['carrier'] })
    expect(stopped?.message).toMatch(/carrier differs \(carrier is "light" since this reader started it as "durable"/)
    // The SQL of the feed as it is now: the reader's would switch the carrier back (a trial's reader said so).
    expect(stopped?.info.command).toContain('--carrier light')
  })
})
