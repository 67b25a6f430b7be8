// The documented JSON form of each type, on both carriers: bigint and numeric keep every digit (as strings),
// bytea is hex whatever the writer's bytea_output, timestamptz is ISO 8601, arrays are JSON arrays, jsonb is
// its JSON, generated columns are there, and a renamed or added column arrives under its current name. The
// form round-trips: json_populate_record() of a change's row gives back the stored row, text for text.
import { filter, firstValueFrom } from 'rxjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { changeFeedChannel, tableChanges, type ChangeCarrier, type ChangeFeedSpec, type JsonRow, type TableChange } from '../../lib/changes/index.js'
import { changesFixture, received, type ChangesFixture } from '../support/changes.js'
import { collect } from '../support/listener.js'

let fixture: ChangesFixture

beforeAll(async () => {
  fixture = await changesFixture('changes_types')
  await fixture.sql(`CREATE TYPE "${fixture.schema}".mood AS ENUM ('ok', 'sad'); CREATE DOMAIN "${fixture.schema}".amount AS numeric(20, 4)`)
})
afterAll(async () => {
  await fixture.close()
})

const COLUMNS = `id bigint PRIMARY KEY, "Renamed Col" text, total numeric, amount %s.amount, big bigint, data bytea, happened timestamptz,
  ints int[], amounts numeric[], blobs bytea[], grid text[], doc jsonb, raw json, ratio float8, flag boolean, uid uuid, feeling %s.mood,
  doubled bigint GENERATED ALWAYS AS (big * 2) STORED`

const VALUES = `(1, 'a "quoted" text', 12345678901234567890.123450, 1.5, 9007199254740993, '\\x00ff10', '2026-11-29 12:34:56.123456+02',
  '{1,NULL,3}', '{1.50,NULL,NaN}', ARRAY['\\x01'::bytea, NULL], '{{a,b},{c,"d e"}}', '{"n": 12, "s": "x", "a": [1.5, {"b": null}]}',
  '{"k":  [1, 2]}', 'Infinity', true, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'sad')`

const rowOf = (change: TableChange<JsonRow> | undefined) => (change?.new?._tag === 'Right' ? change.new.right : undefined)

describe.each(['durable', 'light'] satisfies ChangeCarrier[])('the %s carrier', (carrier) => {
  let table: string
  let spec: ChangeFeedSpec
  let changes: ReturnType<typeof collect<TableChange<JsonRow>>>

  beforeAll(async () => {
    const name = `types_${carrier}`
    table = fixture.table(name)
    await fixture.sql(`CREATE TABLE ${table} (${COLUMNS.replaceAll('%s', `"${fixture.schema}"`)})`)
    spec = await fixture.install({ table: name, carrier })
    changes = collect(tableChanges(fixture.source, carrier === 'durable' ? { ...spec, from: 'earliest' } : spec))
    if (carrier === 'light') await firstValueFrom(fixture.listener.listening(changeFeedChannel(spec)).pipe(filter(Boolean)))
    // The writer's session prints bytea in the old escape format: the change still says hex.
    await fixture.sql(`BEGIN; SET LOCAL bytea_output = 'escape'; SET LOCAL timezone = 'Asia/Kolkata'; INSERT INTO ${table} VALUES ${VALUES}; COMMIT`)
  })
  afterAll(() => changes.stop())

  it('writes each type in its documented JSON form', async () => {
    const row = rowOf((await received(changes, 1))[0])
    expect(row).toEqual({
      id: '1',
      'Renamed Col': 'a "quoted" text',
      total: '12345678901234567890.123450',
      amount: '1.5000',
      big: '9007199254740993',
      data: '\\x00ff10',
      happened: '2026-11-29T16:04:56.123456+05:30',
      ints: [1, null, 3],
      amounts: ['1.50', null, 'NaN'],
      blobs: ['\\x01', null],
      grid: [
        ['a', 'b'],
        ['c', 'd e'],
      ],
      doc: { n: 12, s: 'x', a: [1.5, { b: null }] },
      raw: { k: [1, 2] },
      ratio: 'Infinity',
      flag: true,
      uid: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
      feeling: 'sad',
      doubled: '18014398509481986',
    })
    expect(new Date(row?.happened as string).toISOString()).toBe('2026-11-29T10:34:56.123Z')
  })

  it('round-trips: the row made from the change is the stored row, column for column', async () => {
    const row = rowOf((await received(changes, 1))[0])
    const columns = await fixture.sql<{ name: string; type: string }>(
      `SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped`,
      [table],
    )
    // Compared as text (every digit, the scale, hex bytea, the instant), json as jsonb (its text keeps the writer's spacing).
    const asText = (alias: string, column: { name: string; type: string }) => `${alias}."${column.name}"${column.type === 'json' ? '::jsonb' : ''}::text`
    const [comparison] = await fixture.sql<{ differing: string[] }>(
      `SELECT array_remove(ARRAY[${columns.map((column) => `CASE WHEN ${asText('p', column)} IS DISTINCT FROM ${asText('t', column)} THEN '${column.name}' END`).join(', ')}], NULL) AS differing
       FROM ${table} t, json_populate_record(NULL::${table}, $1::json) p WHERE t.id = 1`,
      [JSON.stringify(row)],
    )
    expect(comparison?.differing).toEqual([])
    expect(columns).toHaveLength(18)
  })

  it('carries a renamed column under its new name, and an added one in its form, with no new SQL', async () => {
    await fixture.sql(`ALTER TABLE ${table} RENAME COLUMN "Renamed Col" TO "New Name"; ALTER TABLE ${table} ADD COLUMN added numeric`)
    await fixture.sql(`UPDATE ${table} SET "New Name" = 'renamed', added = 0.10 WHERE id = 1`)
    const update = (await received(changes, 2))[1]
    expect(rowOf(update)).toMatchObject({ 'New Name': 'renamed', added: '0.10' })
    expect(rowOf(update)).not.toHaveProperty('Renamed Col')
  })

  it('reads a column whose type changed while it ran in its new form, without losing a digit', async () => {
    await fixture.sql(`ALTER TABLE ${table} ADD COLUMN qty int, ADD COLUMN note text`)
    await fixture.sql(`UPDATE ${table} SET qty = 1, note = 'x' WHERE id = 1`)
    expect(rowOf((await received(changes, 3))[2])).toMatchObject({ qty: 1, note: 'x' }) // known now: an integer and a text
    await fixture.sql(`ALTER TABLE ${table} ALTER COLUMN qty TYPE bigint, ALTER COLUMN note TYPE numeric USING 1`)
    await fixture.sql(`UPDATE ${table} SET qty = 9007199254740993, note = 0.10 WHERE id = 1`)
    expect(rowOf((await received(changes, 4))[3])).toMatchObject({ qty: '9007199254740993', note: '0.10' })
  })
})
