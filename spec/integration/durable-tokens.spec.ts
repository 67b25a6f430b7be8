// Tokens that cannot be used are typed errors, never a silent restart: malformed, from another log, ahead of
// the database, older than the retention. A missing schema says which command creates it.
import pg from 'pg'
import { filter, firstValueFrom } from 'rxjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPgListener } from '../../lib/index.js'
import {
  CursorExpiredError,
  createDurableLog,
  DurableSchemaMissingError,
  InvalidTokenError,
  type DurableLog,
} from '../../lib/durable/index.js'
import { encodeToken, decodeToken } from '../../lib/durable/position.js'
import { adminQuery, eventually } from '../support/database.js'
import { durableDatabaseUrl, durableFixture, fetchAll, uniqueSchema, type DurableFixture } from '../support/durable.js'

let fixture: DurableFixture
let other: DurableFixture

beforeAll(async () => {
  // One-second partitions and a size limit that drops every partition once it has ended: retention in seconds.
  fixture = await durableFixture('durable_tokens', { retention: { partitionSpan: 1000, maxAge: null, maxBytes: 1, premake: 2 }, maintenanceInterval: false })
  other = await durableFixture('durable_tokens_other')
})
afterAll(async () => {
  await fixture.close()
  await other.close()
})

const reasonOf = async (promise: Promise<unknown>) => {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  )
  expect(error).toBeInstanceOf(InvalidTokenError)
  return (error as InvalidTokenError).info.reason
}

describe('tokens', () => {
  it('refuses malformed tokens with a typed error, on fetch and on read', async () => {
    const { log } = fixture
    for (const token of ['', 'garbage', 'rxd1.abc', 'rxd2.a.1.2.3', 'rxd1.a.1.2.x!', '12345']) {
      expect(await reasonOf(log.fetch('tokens', { after: token }))).toBe('malformed')
    }
    expect(await reasonOf(log.fetch('tokens', { after: 42 as unknown as string }))).toBe('malformed')
    expect(await reasonOf(firstValueFrom(log.read('tokens', { from: 'nope' })))).toBe('malformed')
  })

  it("refuses a null start (a token not stored yet) on read, iterate and consume rather than pick 'now' or 'earliest' for it", async () => {
    const { log } = fixture
    const none = null as unknown as string
    expect(await reasonOf(firstValueFrom(log.read('tokens', { from: none })))).toBe('malformed')
    expect(await reasonOf(log.iterate('tokens', { from: none }).next())).toBe('malformed')
    const consumer = log.consume('tokens', 'null-start', () => undefined, { from: none })
    expect(await reasonOf(consumer.done)).toBe('malformed')
    const error = await log.fetch('tokens', { after: none }).catch((caught: unknown) => caught)
    expect((error as InvalidTokenError).message).toContain('expected a string, got null')
  })

  it('refuses, when called, arguments a JavaScript caller gets wrong, rather than read from now or retry for ever', async () => {
    const { log } = fixture
    const token = await log.append('tokens', 'arguments')
    const loose = log as unknown as Record<'read' | 'iterate' | 'fetch', (channel: string, options?: unknown) => unknown> & {
      consume: (channel: string, group: string, handler: unknown, options?: unknown) => unknown
    }
    // A token where the options go: it read from 'now' without a word.
    expect(() => loose.read('tokens', token)).toThrow(`rxpg/durable: read's options are an object { from, batchSize, wakeUps }; got a string (${JSON.stringify(token)}): to start after a token, pass { from: token }`)
    expect(() => loose.iterate('tokens', 'earliest')).toThrow(TypeError)
    await expect(loose.fetch('tokens', token)).rejects.toThrow("rxpg/durable: fetch's options are an object { after, limit }")
    // A misspelt option (`form`, or fetch's `after` on read) read from 'now' without a word too.
    expect(() => loose.read('tokens', { form: token })).toThrow(`rxpg/durable: read has no option "form"; its options are { from, batchSize, wakeUps }`)
    expect(() => loose.iterate('tokens', { after: token })).toThrow(`rxpg/durable: iterate has no option "after"; its options are { from, batchSize, wakeUps, signal }`)
    await expect(loose.fetch('tokens', { from: token })).rejects.toThrow('rxpg/durable: fetch has no option "from"')
    expect(() => loose.consume('tokens', 'g', () => undefined, { closeTimeout: 1 })).toThrow('rxpg/durable: consume has no option "closeTimeout"; its options are { from, batchSize, leaseTtl, retryDelay, deadLetter, member }')
    expect(() => loose.consume('tokens', 'g', () => undefined, 'earliest')).toThrow(TypeError)
    // A handler that is not a function: it was retried every retryDelay, for ever.
    expect(() => loose.consume('tokens', 'g', 'handle')).toThrow('rxpg/durable: consume\'s handler must be a function (messages, client) => …; got a string ("handle")')
    // No options, or null: the defaults (fetch then says what `after` must be).
    expect(() => loose.read('tokens', null)).not.toThrow()
    expect(await reasonOf(loose.fetch('tokens') as Promise<unknown>)).toBe('malformed')
    // A string where a number goes is shown as a string.
    expect(() => log.read('tokens', { batchSize: '7' as unknown as number })).toThrow('rxpg/durable: read batchSize must be a positive integer; got "7" (a string)')
    await expect(log.fetch('tokens', { after: 'earliest', limit: '5' as unknown as number })).rejects.toThrow('rxpg/durable: fetch limit must be a positive integer; got "5" (a string)')
  })

  it('refuses a position at the very top of bigint as malformed (the read after it would overflow), not with a query failure', async () => {
    const { log } = fixture
    const mine = await log.append('tokens', 'top')
    const logId = mine.split('.')[1]!
    for (const position of [{ epoch: 1, tx: 1n, id: 2n ** 63n - 1n }, { epoch: 1, tx: 2n ** 63n - 1n, id: 1n }]) {
      expect(await reasonOf(log.fetch('tokens', { after: encodeToken(logId, position) }))).toBe('malformed')
    }
  })

  it("refuses another log's token (another schema or database)", async () => {
    const foreign = await other.log.append('tokens', 'elsewhere')
    expect(await reasonOf(fixture.log.fetch('tokens', { after: foreign }))).toBe('other-log')
  })

  it('refuses a token ahead of everything the database has written (a restore from an older backup)', async () => {
    const { log } = fixture
    const mine = await log.append('tokens', 'mine')
    const ahead = decodeToken(mine, mine.split('.')[1]!)
    const future = encodeToken(mine.split('.')[1]!, { ...ahead, tx: ahead.tx + 1_000_000n })
    expect(await reasonOf(log.fetch('tokens', { after: future }))).toBe('ahead-of-database')
    const laterEpoch = encodeToken(mine.split('.')[1]!, { ...ahead, epoch: ahead.epoch + 1 })
    expect(await reasonOf(firstValueFrom(log.read('tokens', { from: laterEpoch })))).toBe('ahead-of-database')
  })

  it('gives CursorExpiredError for a token older than the retention, on fetch, read and a live reader, while earliest still reads', async () => {
    const { log } = fixture
    const before = (await log.fetch('expiry', { after: 'earliest' })).next
    const live = log.read('expiry', { from: before })
    const liveError = firstValueFrom(live).then(
      () => undefined,
      (error: unknown) => error,
    )
    await log.append('expiry', 'dropped by retention')
    // Once its one-second partition has ended, maintenance drops it (maxBytes: 1).
    await eventually(async () => (await log.maintain()).dropped > 0 && (await fetchAll(log, 'expiry')).length === 0, () => 'the partition was not dropped')
    await expect(log.fetch('expiry', { after: before })).rejects.toBeInstanceOf(CursorExpiredError)
    await expect(firstValueFrom(log.read('expiry', { from: before }))).rejects.toMatchObject({ code: 'DURABLE_CURSOR_EXPIRED', info: { channel: 'expiry', token: before } })
    // The reader that was already waiting there got the message before the drop, or the error: never a silent skip.
    const outcome = await liveError
    if (outcome !== undefined) expect(outcome).toBeInstanceOf(CursorExpiredError)
    const earliest = await log.fetch('expiry', { after: 'earliest' })
    expect(earliest.messages).toEqual([])
    await log.append('expiry', 'kept')
    expect((await fetchAll(log, 'expiry', earliest.next)).map((m) => m.value)).toEqual(['kept'])
  })
})

describe('moving a consumer group', () => {
  /** Starts a member of `group` that records each value it handles; `done` settles when it stops or fails. */
  const member = (channel: string, group: string, seen: unknown[]) =>
    fixture.log.consume(channel, group, (messages) => void seen.push(...messages.map((message) => message.value)), { leaseTtl: 1000, retryDelay: 50 })
  /** Makes `group` a group that has run (its cursors exist, at 'now'), and stops its member. */
  const ran = async (channel: string, group: string) => {
    const consumer = fixture.log.consume(channel, group, () => undefined, { from: 'now' })
    await firstValueFrom(consumer.events$.pipe(filter((event) => event.kind === 'acquired')))
    await consumer.stop()
  }

  it("moves an expired group to 'earliest' (the error says so), and refuses a position retention dropped", async () => {
    const { log } = fixture
    const seen: unknown[] = []
    const first = member('moved', 'g', seen)
    await log.append('moved', 'a')
    await eventually(() => seen.length === 1, () => `seen ${JSON.stringify(seen)}`)
    await first.stop()
    const before = (await log.fetch('moved', { after: 'earliest' })).next
    await log.append('moved', 'b (never handled: dropped by retention)')
    await eventually(async () => (await log.maintain()).dropped > 0 && (await fetchAll(log, 'moved')).length === 0, () => 'the partition was not dropped')
    const expired: unknown = await member('moved', 'g', seen).done.then(() => undefined, (error: unknown) => error)
    expect(expired).toBeInstanceOf(CursorExpiredError)
    expect((expired as Error).message).toContain(`log.moveGroup("moved", "g", 'earliest')`)
    await expect(log.moveGroup('moved', 'g', before)).rejects.toMatchObject({ code: 'DURABLE_CURSOR_EXPIRED', info: { channel: 'moved', group: 'g' } })
    await log.moveGroup('moved', 'g', 'earliest')
    const again = member('moved', 'g', seen)
    await log.append('moved', 'c')
    await eventually(() => seen.length === 2, () => `seen ${JSON.stringify(seen)}`)
    expect(seen).toEqual(['a', 'c'])
    await again.stop()
    await expect(again.done).resolves.toBeUndefined()
  })

  it('moves a running group back to a token: its member reads on from there (its batch in flight is fenced off)', async () => {
    const { log } = fixture
    const seen: unknown[] = []
    const running = member('rewound', 'g', seen)
    const token = await log.append('rewound', 'x')
    await log.append('rewound', 'y')
    await eventually(() => seen.length === 2, () => `seen ${JSON.stringify(seen)}`)
    await log.moveGroup('rewound', 'g', token)
    await eventually(() => seen.length === 3, () => `seen ${JSON.stringify(seen)}`)
    expect(seen).toEqual(['x', 'y', 'y'])
    await log.moveGroup('rewound', 'g', 'now')
    await log.append('rewound', 'z')
    await eventually(() => seen.length === 4, () => `seen ${JSON.stringify(seen)}`)
    expect(seen.at(-1)).toBe('z')
    await running.stop()
  })

  it('refuses a token ahead of everything the database has written (a typo), leaving the group where it was', async () => {
    const { log } = fixture
    const token = await log.append('typo', 'x')
    await ran('typo', 'g')
    await log.moveGroup('typo', 'g', token)
    const logId = token.split('.')[1]!
    const position = decodeToken(token, logId)
    const typo = encodeToken(logId, { ...position, tx: position.tx * 10n + 7n })
    expect(await reasonOf(log.moveGroup('typo', 'g', typo))).toBe('ahead-of-database')
    expect((await log.groupLag('typo', 'g')).partitions.every((p) => p.cursor === token)).toBe(true)
  })

  it('says where it moved the group: the token of the position', async () => {
    const { log } = fixture
    const token = await log.append('where', 'x')
    await ran('where', 'g')
    expect(await log.moveGroup('where', 'g', token)).toBe(token)
    await eventually(async () => (await log.moveGroup('where', 'g', 'now')) === token, () => 'now never reached the message')
  })

  it("refuses to move a group of a channel no log has used yet (it would fix the channel's partition count)", async () => {
    const { log } = fixture
    await expect(log.moveGroup('never-used', 'g', 'earliest')).rejects.toThrow(/has never run/)
    expect(await adminQuery(`SELECT * FROM "${fixture.schema}".durable_channels WHERE channel = 'never-used'`, [], fixture.url)).toEqual([])
  })

  it('shows in groupLag that a group fell behind the retention', async () => {
    const { log } = fixture
    await log.append('lag-expiry', 'first')
    await ran('lag-expiry', 'g')
    expect((await log.groupLag('lag-expiry', 'g')).expired).toBe(false)
    await log.append('lag-expiry', 'dropped by retention')
    await eventually(async () => (await log.maintain()).dropped > 0 && (await fetchAll(log, 'lag-expiry')).length === 0, () => 'the partition was not dropped')
    const lag = await log.groupLag('lag-expiry', 'g')
    expect(lag.expired).toBe(true)
    expect(lag.partitions.every((p) => p.expired)).toBe(true)
    await log.moveGroup('lag-expiry', 'g', 'earliest')
    expect((await log.groupLag('lag-expiry', 'g')).expired).toBe(false)
  })

  it('refuses a malformed token, an empty group name, and a group that never ran (a mistyped name would make a new one)', async () => {
    const { log } = fixture
    await expect(log.moveGroup('moved', 'g', 'not a token')).rejects.toBeInstanceOf(InvalidTokenError)
    await expect(log.moveGroup('moved', '', 'earliest')).rejects.toBeInstanceOf(RangeError)
    await log.append('fresh', 'x')
    await expect(log.moveGroup('fresh', 'new-group', 'earliest')).rejects.toThrow(/"new-group" of durable channel "fresh" has never run/)
    expect((await log.groupLag('fresh', 'new-group')).partitions).toEqual([])
  })
})

describe('the epoch', () => {
  it('is raised when the database looks restored (its transaction counter is behind the one recorded): new messages sort after the old, old tokens stay valid', async () => {
    const { log } = fixture
    const before = await log.append('restored', 'before the restore')
    const oldEpoch = decodeToken(before, before.split('.')[1]!).epoch
    // What pg_dump into a new cluster does to the counter: it starts again, below what the log has seen.
    await adminQuery(`UPDATE "${fixture.schema}".durable_meta SET seen_xid = txid_current() + 1000000000`, [], fixture.url)
    const reopened = fixture.openLog() // a process starting on the restored database
    const after = await reopened.append('restored', 'after the restore')
    const newEpoch = decodeToken(after, after.split('.')[1]!).epoch
    expect(newEpoch).toBe(oldEpoch + 1)
    expect((await fetchAll(reopened, 'restored')).map((m) => m.value)).toEqual(['before the restore', 'after the restore'])
    expect((await fetchAll(reopened, 'restored', before)).map((m) => m.value)).toEqual(['after the restore'])
    // Raised once: the next log to open finds the counter recorded and keeps the epoch.
    const third = fixture.openLog()
    expect(decodeToken(await third.append('restored', 'later'), after.split('.')[1]!).epoch).toBe(newEpoch)
  })

  it("refuses a token of an older epoch that names a message this database does not have (written after the backup), as 'ahead-of-database'", async () => {
    const { log } = fixture
    const kept = await log.append('after-backup', 'in the backup')
    const lost = await log.append('after-backup', 'written after the backup was taken')
    // What the restored database lacks: the message written after the dump (its row is not there).
    const logId = kept.split('.')[1]!
    const { epoch, tx, id } = decodeToken(lost, logId)
    await adminQuery(`DELETE FROM "${fixture.schema}".durable_log WHERE epoch = $1 AND tx = $2 AND id = $3`, [epoch, String(tx), String(id)], fixture.url)
    await adminQuery(`UPDATE "${fixture.schema}".durable_meta SET seen_xid = txid_current() + 1000000000`, [], fixture.url)
    const restored = fixture.openLog()
    await restored.append('after-backup', 'after the restore')
    expect(await reasonOf(restored.fetch('after-backup', { after: lost }))).toBe('ahead-of-database')
    expect(await reasonOf(firstValueFrom(restored.read('after-backup', { from: lost })))).toBe('ahead-of-database')
    // A token of a message the database has stays valid: what came after it, in order.
    expect((await fetchAll(restored, 'after-backup', kept)).map((m) => m.value)).toEqual(['after the restore'])
  })
})

describe('the schema', () => {
  it('is a typed error naming the command that creates it when missing', async () => {
    const url = durableDatabaseUrl()
    const listener = createPgListener(url)
    const pool = new pg.Pool({ connectionString: url })
    const schema = uniqueSchema('durable_missing')
    const log: DurableLog = createDurableLog({ listener, pool, schema })
    try {
      const error = await log.append('x', 1).catch((caught: unknown) => caught)
      expect(error).toBeInstanceOf(DurableSchemaMissingError)
      expect((error as DurableSchemaMissingError).info).toMatchObject({ schema, reason: 'missing', sqlState: expect.any(String) })
      expect((error as Error).message).toContain(`npx rxpg sql durable --schema ${schema}`)
      await expect(firstValueFrom(log.read('x', { from: 'earliest' }))).rejects.toBeInstanceOf(DurableSchemaMissingError)
      await log.ensureSchema()
      await log.ensureSchema() // idempotent
      expect((await log.fetch('x', { after: 'earliest' })).messages).toEqual([])
      await adminQuery(`UPDATE "${schema}".durable_meta SET version = 99`, [], url)
      const reopened = createDurableLog({ listener, pool, schema })
      await expect(reopened.fetch('x', { after: 'earliest' })).rejects.toMatchObject({ code: 'DURABLE_SCHEMA_MISSING', info: { reason: 'outdated', foundVersion: 99 } })
      await reopened.close()
    } finally {
      await log.close()
      await listener.close()
      await pool.end()
      await adminQuery(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`, [], url)
    }
  })

  // A renamed schema keeps functions whose search_path names the old one: nothing works until the SQL is run
  // again for the new name. ensureSchema() (as the owner) must do that, not take the log for installed.
  it('is installed again by ensureSchema() after the schema was renamed (its functions still named the old one)', async () => {
    const url = durableDatabaseUrl()
    const listener = createPgListener(url)
    const pool = new pg.Pool({ connectionString: url })
    const before = uniqueSchema('durable_renamed')
    const after = `${before}_new`
    try {
      const first = createDurableLog({ listener, pool, schema: before })
      await first.ensureSchema()
      await first.close()
      await adminQuery(`ALTER SCHEMA "${before}" RENAME TO "${after}"`, [], url)
      const renamed = createDurableLog({ listener, pool, schema: after })
      try {
        await renamed.ensureSchema()
        await renamed.append('x', 1)
      } finally {
        await renamed.close()
      }
    } finally {
      await listener.close()
      await pool.end()
      await adminQuery(`DROP SCHEMA IF EXISTS "${before}" CASCADE; DROP SCHEMA IF EXISTS "${after}" CASCADE`, [], url)
    }
  })
})
