// No row size ever aborts the writer's transaction: 8,001-byte and 16 MB rows (inserted, updated, deleted), and
// 10,000 fuzzed rows around the 7999-byte notification limit (multibyte text, quotes, backslashes, control
// characters), on both carriers, with every change delivered intact.
import fc from 'fast-check'
import { filter, firstValueFrom } from 'rxjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { changeFeedChannel, tableChanges, type ChangeCarrier, type ChangeFeedSpec, type JsonRow, type TableChange } from '../../lib/changes/index.js'
import { changesFixture, received, type ChangesFixture } from '../support/changes.js'
import { collect } from '../support/listener.js'

let fixture: ChangesFixture

beforeAll(async () => {
  fixture = await changesFixture('changes_big')
})
afterAll(async () => {
  await fixture.close()
})

async function feedOn(name: string, carrier: ChangeCarrier) {
  const table = fixture.table(name)
  await fixture.sql(`CREATE TABLE ${table} (id int PRIMARY KEY, body text NOT NULL, amount numeric, data bytea)`)
  const spec: ChangeFeedSpec = await fixture.install({ table: name, carrier })
  const changes = collect(tableChanges(fixture.source, carrier === 'durable' ? { ...spec, from: 'earliest' } : spec))
  if (carrier === 'light') await firstValueFrom(fixture.listener.listening(changeFeedChannel(spec)).pipe(filter(Boolean)))
  return { table, changes }
}

const rowOf = (change: TableChange<JsonRow> | undefined) => (change?.new?._tag === 'Right' ? change.new.right : undefined)

/** A string of about `bytes` bytes of UTF-8 made of `unit`, with no NUL (PostgreSQL text cannot hold one). */
function textOfSize(unit: string, bytes: number): string {
  const safe = unit.replaceAll('\0', ' ') || 'x'
  const copies = Math.max(1, Math.ceil(bytes / Buffer.byteLength(safe)))
  let text = safe.repeat(copies)
  while (Buffer.byteLength(text) > bytes && text.length > 1) text = [...text].slice(0, -1).join('')
  return text
}

describe.each(['durable', 'light'] satisfies ChangeCarrier[])('the %s carrier', (carrier) => {
  it('delivers 8,001-byte and 16 MB rows intact', async () => {
    const { table, changes } = await feedOn(`sizes_${carrier}`, carrier)
    const justOver = 'é'.repeat(4000) + 'x' // 8,001 bytes of UTF-8
    const huge = 'z'.repeat(16 * 1024 * 1024)
    await fixture.sql(`INSERT INTO ${table} (id, body) VALUES (1, $1)`, [justOver])
    await fixture.sql(`INSERT INTO ${table} (id, body) VALUES (2, $1)`, [huge])
    const [first, second] = await received(changes, 2, 60_000)
    changes.stop()
    expect(rowOf(first)?.body).toBe(justOver)
    expect((rowOf(second)?.body as string).length).toBe(huge.length)
    expect(rowOf(second)?.body === huge).toBe(true)
    expect([first?.overflow, second?.overflow]).toEqual(carrier === 'light' ? ['fetched', 'fetched'] : [undefined, undefined])
  })

  it('updates and deletes 8,001-byte and 16 MB rows with 0 writer errors (the old row and the new one in one change)', async () => {
    const { table, changes } = await feedOn(`sizes_ud_${carrier}`, carrier)
    const justOver = 'é'.repeat(4000) + 'x'
    const huge = 'z'.repeat(16 * 1024 * 1024)
    await fixture.sql(`INSERT INTO ${table} (id, body) VALUES (1, $1), (2, $2)`, [justOver, huge])
    await fixture.sql(`UPDATE ${table} SET body = body || 'y'`)
    await fixture.sql(`DELETE FROM ${table}`)
    const all = await received(changes, 6, 60_000)
    changes.stop()
    const rowSide = (change: TableChange<JsonRow> | undefined, side: 'new' | 'old') => {
      const row = change?.[side]
      return row?._tag === 'Right' ? (row.right.body as string) : undefined
    }
    const updates = all.filter((change) => change.op === 'update').sort((a, b) => Number(a.key.id) - Number(b.key.id))
    const deletes = all.filter((change) => change.op === 'delete').sort((a, b) => Number(a.key.id) - Number(b.key.id))
    expect([updates.length, deletes.length]).toEqual([2, 2])
    if (carrier === 'durable') {
      expect(updates.map((change) => [rowSide(change, 'old') === [justOver, huge][Number(change.key.id) - 1], rowSide(change, 'new')?.endsWith('y')])).toEqual([
        [true, true],
        [true, true],
      ])
      expect(deletes.map((change) => rowSide(change, 'old')?.length)).toEqual([`${justOver}y`.length, huge.length + 1])
    } else {
      // Too large for a notification: the key only, and the row as it is when read (fetched, or gone once deleted).
      expect([...updates, ...deletes].map((change) => [change.op, change.key.id, change.overflow !== undefined])).toEqual([
        ['update', 1, true],
        ['update', 2, true],
        ['delete', 1, true],
        ['delete', 2, true],
      ])
    }
  })

  // 10,000 rows of up to 30 kB written and read: 19 s of the default 30 s on a busy 2-core machine.
  it('takes 10,000 fuzzed rows around the notification limit with 0 writer errors, and delivers every one', { timeout: 90_000 }, async () => {
    const { table, changes } = await feedOn(`fuzz_${carrier}`, carrier)
    const size = fc.oneof(fc.integer({ min: 0, max: 400 }), fc.integer({ min: 7800, max: 8200 }), fc.integer({ min: 8200, max: 30_000 }))
    const rows = fc
      .sample(fc.record({ unit: fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }), bytes: size, amount: fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }), data: fc.uint8Array({ maxLength: 64 }) }), {
        numRuns: 10_000,
        seed: 20261129,
      })
      .map((row, id) => ({ id, body: textOfSize(row.unit, row.bytes), amount: `${row.amount}.${String(id % 100).padStart(2, '0')}`, data: Buffer.from(row.data) }))
    let writerErrors = 0
    const writers = 4
    await Promise.all(
      Array.from({ length: writers }, async (_, writer) => {
        const client = await fixture.pool.connect()
        try {
          // Statements of 25 rows: the durable carrier's statement-level trigger writes them at once; the light
          // carrier's row trigger sends each (or its key) in a notification of its own.
          const mine = rows.filter((row) => row.id % writers === writer)
          for (let at = 0; at < mine.length; at += 25) {
            const batch = mine.slice(at, at + 25)
            await client
              .query(`INSERT INTO ${table} (id, body, amount, data) SELECT * FROM unnest($1::int[], $2::text[], $3::numeric[], $4::bytea[])`, [
                batch.map((row) => row.id),
                batch.map((row) => row.body),
                batch.map((row) => row.amount),
                batch.map((row) => row.data),
              ])
              .catch(() => (writerErrors += batch.length))
          }
        } finally {
          client.release()
        }
      }),
    )
    expect(writerErrors).toBe(0)
    const all = await received(changes, rows.length, 120_000)
    changes.stop()
    const byId = new Map(all.map((change) => [Number(change.key.id), rowOf(change)]))
    expect(byId.size).toBe(rows.length)
    const wrong = rows.filter((row) => {
      const got = byId.get(row.id)
      return got?.body !== row.body || got.amount !== row.amount || got.data !== `\\x${row.data.toString('hex')}`
    })
    expect(wrong.map((row) => row.id)).toEqual([])
    const overflowed = all.filter((change) => change.overflow !== undefined).length
    if (carrier === 'light') expect(overflowed).toBeGreaterThan(1000)
    else expect(overflowed).toBe(0)
  })
})
