// What a durable log refuses before it touches the database: schema names PostgreSQL would not keep as given,
// page limits that are not positive whole numbers, keys PostgreSQL cannot store. Nothing here connects: the
// pool is a connection string that is never used.
import { describe, expect, it } from 'vitest'
import { createPgListener } from '../../lib/index.js'
import { createDurableLog, durableSchemaSql, DurableSchemaMissingError } from '../../lib/durable/index.js'

const nowhere = 'postgres://nobody@127.0.0.1:1/none'

describe('a durable log', () => {
  it.each([
    ['empty', ''],
    ['over 63 bytes of UTF-8 (PostgreSQL would cut it, and two such logs would share a schema)', 'ü'.repeat(32)],
    ['holding a NUL', 'a\0b'],
  ])('refuses a schema name that is %s, naming what is allowed', (_what, schema) => {
    const listener = createPgListener(nowhere)
    expect(() => createDurableLog({ listener, pool: nowhere, schema })).toThrow(/schema must be a name of 1 to 63 bytes of UTF-8, without NUL/)
    expect(() => durableSchemaSql({ schema })).toThrow(/schema must be a name of 1 to 63 bytes of UTF-8, without NUL/)
    void listener.close()
  })

  it('refuses a page limit that is not a positive whole number, and a key holding a NUL, before any query', async () => {
    const listener = createPgListener(nowhere)
    const log = createDurableLog({ listener, pool: nowhere })
    for (const limit of [0, -1, 1.5, Number.NaN]) await expect(log.fetch('orders', { after: 'earliest', limit })).rejects.toThrow(/limit must be a positive whole number/)
    await expect(log.append('orders', 1, { key: 'a\0b' })).rejects.toMatchObject({ code: 'DURABLE_INVALID_VALUE', message: expect.stringMatching(/key must not hold a NUL/) })
    await log.close()
    await listener.close()
  })

  it('says to upgrade rxpg when the schema is newer than this rxpg (running its SQL again cannot downgrade it)', () => {
    const newer = new DurableSchemaMissingError({ schema: 'rxpg', reason: 'outdated', expectedVersion: 1, foundVersion: 2, detail: 'durable_meta.version is 2' })
    expect(newer.message).toMatch(/newer than this rxpg.*upgrade rxpg/)
    expect(newer.message).not.toContain('npx rxpg sql durable')
  })
})
