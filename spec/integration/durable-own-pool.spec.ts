// A durable log's pool of its own (the quickstart's `pool: DATABASE_URL`) against a server that stopped
// answering: closing lets the process exit, and connecting gives up, as the listener does with its own.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { filter, firstValueFrom } from 'rxjs'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createDurableLog, DurableQueryFailedError } from '../../lib/durable/index.js'
import { eventually } from '../support/database.js'
import { durableFixture, type DurableFixture } from '../support/durable.js'
import { startHalfOpenProxy } from '../support/half-open-proxy.js'
import { startSilentServer } from '../support/silent-server.js'
import { freePort } from '../../support/embedded-server.js'

let fixture: DurableFixture
const cleanups: Array<() => Promise<unknown>> = []

beforeAll(async () => {
  fixture = await durableFixture('durable_own_pool')
})
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})
afterAll(async () => {
  await fixture.close()
})

/** Whether `child` exited within `limitMs` (a bound on hanging, not a measure). */
async function exitsWithin(child: ChildProcess, limitMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true
  let timer: NodeJS.Timeout | undefined
  const limit = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), limitMs)))
  try {
    return await Promise.race([once(child, 'exit').then(() => true), limit])
  } finally {
    clearTimeout(timer)
  }
}

describe("a durable log's pool of its own", () => {
  // A trial found the script alive after close() until the server answered again: pg's end() of a pool client
  // waits for the server to close its side, and a frozen one never does.
  it('lets the process exit after close() though the server of its pool connection stopped answering', async () => {
    const proxy = await startHalfOpenProxy({ targetPort: Number(new URL(fixture.url).port) })
    cleanups.push(() => proxy.close())
    const child = spawn(process.execPath, ['--import', 'tsx', 'spec/integration/fixtures/durable-close-frozen.ts', fixture.url, proxy.url(fixture.url), fixture.schema], {
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    cleanups.push(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
    await eventually(() => output.includes('fetched') || child.exitCode !== null, () => output)
    expect(output).toContain('fetched')
    proxy.freezeExisting()
    child.stdin.end()
    // The fixture exits in well under a second when nothing is left open.
    const exited = await exitsWithin(child, 20_000)
    expect(exited, output).toBe(true)
    expect(child.exitCode, output).toBe(0)
    expect(output).toContain('listener closed')
  })

  // A trial's cron script hung for ever on its first fetch against a server that accepted TCP and never answered.
  it('fails a fetch with DurableQueryFailedError, rather than waiting for ever, when its server accepts and never answers', async () => {
    const silent = await startSilentServer()
    cleanups.push(() => silent.close())
    const { url, connections } = silent
    // The quickstart's form: a connection string, nothing else.
    const log = createDurableLog({ listener: fixture.listener, pool: url, schema: fixture.schema })
    cleanups.push(() => log.close())
    let timer: NodeJS.Timeout | undefined
    const hung = new Promise<'still waiting'>((resolve) => (timer = setTimeout(() => resolve('still waiting'), 25_000)))
    const outcome = await Promise.race([log.fetch('silent', { after: 'earliest' }).then(() => 'fetched', (error: unknown) => error), hung])
    clearTimeout(timer)
    expect(outcome).toBeInstanceOf(DurableQueryFailedError)
    expect(outcome).toMatchObject({ code: 'DURABLE_QUERY_FAILED' })
    expect((outcome as Error).message).not.toContain('secret')
    // The attempt's socket was closed, not left open.
    await eventually(async () => (await connections()) === 0, () => 'the connection attempt ended')
  }, 45_000)
})

describe('a durable log whose server refuses connections', () => {
  /** A port nothing listens on: a server that is down. */
  const refusedUrl = async () => `postgres://app:secret@127.0.0.1:${await freePort()}/app`

  it('fails ensureSchema() with DurableQueryFailedError (the driver error as cause), as every other call', async () => {
    const log = createDurableLog({ listener: fixture.listener, pool: await refusedUrl() })
    cleanups.push(() => log.close())
    const failure: unknown = await log.ensureSchema().then(() => undefined, (error: unknown) => error)
    expect(failure).toBeInstanceOf(DurableQueryFailedError)
    expect((failure as DurableQueryFailedError).info).toMatchObject({ operation: 'ensureSchema', systemCode: 'ECONNREFUSED' })
  })

  it("keeps a consumer retrying while its batches' connection is refused, rather than failing it", async () => {
    const log = createDurableLog({ listener: fixture.listener, pool: await refusedUrl(), schema: fixture.schema, pollInterval: 50 })
    cleanups.push(() => log.close())
    const consumer = log.consume('refused', 'g', () => undefined)
    const retrying = await firstValueFrom(consumer.events$.pipe(filter((event) => event.kind === 'retrying')))
    expect(retrying.kind === 'retrying' && retrying.error).toBeInstanceOf(DurableQueryFailedError)
    let failed = false
    void consumer.done.catch(() => (failed = true))
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(failed).toBe(false)
    await consumer.stop()
  })
})
