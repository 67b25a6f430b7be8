/**
 * Faults that must neither lose what rxpg promises nor hang: where a reconnect gap starts, a server that never
 * answers, a configuration that can never work, and whether a channel's LISTEN is in effect.
 */
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { firstValueFrom, filter } from 'rxjs'
import { afterEach, describe, expect, it } from 'vitest'
import { ConnectionRejectedError, createPgListener, type ListenerState, type PgListener } from '../../lib/index.js'
import { databaseUrl, eventually, terminateBackend, uniqueName } from '../support/database.js'
import { collect, stateOf } from '../support/listener.js'

const open: PgListener[] = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((db) => db.close()))
})

function listener(url = databaseUrl(), options: Parameters<typeof createPgListener>[1] = {}): PgListener {
  const db = createPgListener(url, options)
  open.push(db)
  return db
}

type Connected = Extract<ListenerState, { status: 'connected' }>

describe('the gap a reconnect reports', () => {
  it('starts when the lost connection was last heard from: not after the kill, not before the last delivery', async () => {
    const channel = uniqueName('gap-since')
    const db = listener()
    const states = collect(db.state$)
    const received = collect(db.channel(channel))
    const first = await stateOf(db, 'connected')
    await db.notify(channel, 'before')
    await eventually(() => received.values.length === 1, () => 'the first notification did not arrive')

    const killIssuedAt = Date.now()
    await terminateBackend(first.processId)
    await eventually(
      () => states.values.filter((state) => state.status === 'connected').length === 2,
      () => states.values.map((state) => state.status).join(' -> '),
    )
    const { gap } = states.values.filter((state): state is Connected => state.status === 'connected')[1] as Connected
    expect(gap).toBeDefined()
    expect(gap!.since).toBeLessThanOrEqual(killIssuedAt)
    expect(gap!.since).toBeGreaterThanOrEqual(received.values[0]!.receivedAt)
  })
})

describe('a server that accepts connections and never answers', () => {
  it('close() resolves, a pending notify() settles, and the process exits on its own', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'spec/integration/fixtures/close-silent-server.ts'], {
      // A bound on hanging: the fixture exits in well under a second when nothing is left open.
      timeout: 20_000,
    })
    expect(stdout).toMatch(/connections accepted [1-9]/)
    expect(stdout).toContain('closed')
    expect(stdout).toContain('notify ListenerClosedError')
    expect(stdout).not.toContain('state connected')
  })
})

describe('a configuration that can never work', () => {
  it('fails for good, as ConnectionRejectedError (configuration), for a port out of range, without the password', async () => {
    const db = listener('postgres://app:s3cret-pw@127.0.0.1:99999/app')
    db.channel('never').subscribe({ error: () => undefined })
    const failed = await stateOf(db, 'failed')
    expect(failed.error).toBeInstanceOf(ConnectionRejectedError)
    expect(failed.error.info).toMatchObject({ reason: 'configuration', systemCode: 'ERR_INVALID_URL' })
    expect(failed.error.message).not.toContain('s3cret-pw')
    expect(JSON.stringify(failed.error.info)).not.toContain('s3cret-pw')
    expect(String((failed.error.cause as { input?: unknown }).input)).not.toContain('s3cret-pw')
    await expect(db.notify('never', 'x')).rejects.toBeInstanceOf(ConnectionRejectedError)
  })

  it('refuses sends for good too, when only the sending connection was ever tried', async () => {
    const db = listener('postgres://app:s3cret-pw@127.0.0.1:99999/app')
    const refusal = await db.notify('never', 'x').catch((error: unknown) => error)
    expect(refusal).toBeInstanceOf(ConnectionRejectedError)
    expect((refusal as ConnectionRejectedError).info.reason).toBe('configuration')
  })
})

describe("listening(name): whether a channel's LISTEN is in effect", () => {
  it('is false until the server confirmed the LISTEN, false again after the last subscriber left, and after a loss until the new LISTEN', async () => {
    const channel = uniqueName('listening')
    const db = listener()
    const values = collect(db.listening(channel))
    expect(values.values).toEqual([false])
    const subscription = db.channel(channel).subscribe()
    await firstValueFrom(db.listening(channel).pipe(filter(Boolean)))
    // In effect: a notification committed now is delivered.
    const received = collect(db.channel(channel))
    await db.notify(channel, 'in effect')
    await eventually(() => received.values.length === 1, () => 'not delivered')

    const { processId } = await stateOf(db, 'connected')
    await terminateBackend(processId)
    await eventually(() => values.values.length >= 4, () => JSON.stringify(values.values))
    expect(values.values.slice(0, 4)).toEqual([false, true, false, true])

    subscription.unsubscribe()
    received.stop()
    await eventually(() => values.values.at(-1) === false, () => JSON.stringify(values.values))
  })
})
