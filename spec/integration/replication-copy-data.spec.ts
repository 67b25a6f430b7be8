/**
 * The replication session reads CopyData straight off its socket (lib/pg/message-reader.ts) with the pg this
 * project installs: were a pg release to attach its parser otherwise, the session would fall back to pg's
 * events, slower but right, and this spec would say so.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { dropReplication, ensureReplication } from '../../lib/replication/index.js'
import { pgReplicationSource } from '../../lib/replication/pg/pg-replication-source.js'
import type { ReplicationSession } from '../../lib/replication/ports.js'
import { query, uniqueName, useLogicalServer } from '../support/replication.js'

let url = ''
useLogicalServer((server) => (url = server.url))

const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const step of cleanup.splice(0)) await step()
})

describe('replication: CopyData off the socket', () => {
  it("takes CopyData off pg's parser on a real connection, and reads the changes through it", async () => {
    const table = uniqueName('t')
    const slot = uniqueName('slot')
    const publication = uniqueName('pub')
    await query(url, `CREATE TABLE ${table} (id int PRIMARY KEY, note text)`)
    await ensureReplication(url, { slot, publication, tables: [table] })
    // The session lives while its connection is subscribed.
    const session = await new Promise<ReplicationSession>((resolve, reject) => {
      const connected = pgReplicationSource(url, { slot, publication, tables: [table] })
        .connect(() => Date.now())
        .subscribe({ next: resolve, error: reject })
      cleanup.push(async () => {
        connected.unsubscribe()
        await dropReplication(url, { slot, publication })
      })
    })
    expect((session as unknown as { readsCopyData: boolean }).readsCopyData).toBe(true)

    const kinds: string[] = []
    const started = new Promise<void>((resolve, reject) => {
      const subscription = session.start(0n).subscribe({
        next: (message) => {
          kinds.push(message.kind === 'change' ? `${message.kind}:${message.op}:${JSON.stringify(message.new)}` : message.kind)
          if (message.kind === 'started') resolve()
        },
        error: reject,
      })
      cleanup.unshift(async () => subscription.unsubscribe())
    })
    await started
    await query(url, `INSERT INTO ${table} VALUES (1, '${'x'.repeat(100_000)}'), (2, 'two')`)
    await expect.poll(() => kinds.filter((kind) => kind.startsWith('change')).length).toBe(2)
    expect(kinds.filter((kind) => kind.startsWith('change'))).toEqual([
      `change:insert:${JSON.stringify({ id: 1, note: 'x'.repeat(100_000) })}`,
      `change:insert:${JSON.stringify({ id: 2, note: 'two' })}`,
    ])
  })
})
