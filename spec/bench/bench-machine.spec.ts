// A benchmark run says what else ran beside it: PostgreSQL servers left over from other work (a script that
// exited without stopping its embedded server) take memory and CPU from the run, and RESULTS.md names them.
import { afterAll, describe, expect, it } from 'vitest'
import { machineInfo, postmasterOf, postmasters, sharingNote } from '../../bench/support/machine.js'
import { startEmbeddedServer, type EmbeddedServer } from '../../support/embedded-server.js'
import { databaseUrl } from '../support/database.js'

let other: EmbeddedServer | undefined
afterAll(async () => {
  await other?.destroy()
})

describe('the machine a benchmark ran on', () => {
  // Other spec files start and stop servers of their own meanwhile: only what this test holds is asserted.
  // Linux only (read from /proc), and with the suite's embedded server (a DATABASE_URL server may be remote).
  it.runIf(process.platform === 'linux' && process.env.DATABASE_URL === undefined)('finds the PostgreSQL servers of this machine, and tells the run’s own from the others', async () => {
    other = await startEmbeddedServer()
    const shared = await postmasterOf(databaseUrl())
    const own = await postmasterOf(other.url)
    expect(shared).toBeDefined()
    expect(own).toBeDefined()
    expect(own).not.toBe(shared)
    expect(postmasters()).toEqual(expect.arrayContaining([shared, own]))
    // Each counts at least the other one.
    expect((await machineInfo(other.url)).otherPostgresServers).toBeGreaterThanOrEqual(1)
    expect((await machineInfo(databaseUrl())).otherPostgresServers).toBeGreaterThanOrEqual(1)
  }, 60_000)

  it('says so next to the load average', () => {
    expect(sharingNote({ otherPostgresServers: 0 })).toBe('(the machine is shared: other work ran alongside)')
    expect(sharingNote({ otherPostgresServers: 1 })).toBe('(the machine is shared: other work ran alongside; 1 other PostgreSQL server was running at the start)')
    expect(sharingNote({ otherPostgresServers: 2 })).toBe('(the machine is shared: other work ran alongside; 2 other PostgreSQL servers were running at the start)')
  })
})
