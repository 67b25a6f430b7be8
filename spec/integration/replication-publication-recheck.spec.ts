/**
 * A running change stream checks its publication again every `recheckInterval`, against a real PostgreSQL with
 * wal_level=logical: a publication dropped, or a watched table taken out of it, by a migration while the stream
 * runs fails the stream with the typed error a new stream would get. Before, it stayed `connected` and delivered
 * nothing more of the table (pgoutput skips a publication missing at a WAL position, with a warning in the
 * server's log only) until it happened to reconnect; acknowledging its checkpoints meanwhile moved the slot past
 * the changes (a new user's on-call trial).
 */
import { describe, expect, it } from 'vitest'
import { ReplicationSetupError } from '../../lib/replication/index.js'
import { collect, query, replicationFixtures, uniqueName, useLogicalServer } from '../support/replication.js'
import { eventually } from '../support/database.js'

let url = ''
useLogicalServer((server) => (url = server.url))

const { setup, open } = replicationFixtures(() => url)

describe('replication: the publication changed under a running stream', () => {
  it.each([
    ['dropped', (publication: string) => `DROP PUBLICATION ${publication}`, 'publication-missing'],
    ['without the table', (publication: string, table: string) => `ALTER PUBLICATION ${publication} DROP TABLE ${table}`, 'table-not-published'],
  ])('fails the stream when the publication is %s', async (_case, migration, reason) => {
    const table = uniqueName('t')
    await query(url, `CREATE TABLE ${table} (id int PRIMARY KEY)`)
    const names = await setup([table])
    const stream = open(names, { tables: [table], recheckInterval: 200 })
    // Subscribed throughout: the session streams on (a last unsubscribe would end it, and the next start check say it).
    const seen = collect(stream.changes$)
    await query(url, `INSERT INTO ${table} VALUES (1)`)
    await eventually(() => seen.values.length === 1, () => 'the first change never came')
    await query(url, migration(names.publication, table))
    await query(url, `INSERT INTO ${table} VALUES (2)`)
    await eventually(() => seen.errors.length > 0, () => `the stream never failed (state ${JSON.stringify(stream.metrics.snapshot())})`, 10_000)
    expect(seen.errors[0]).toBeInstanceOf(ReplicationSetupError)
    expect((seen.errors[0] as ReplicationSetupError).info.reason).toBe(reason)
  })
})
