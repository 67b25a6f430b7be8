// How much of the log a page read touches. A page is found with ordered index scans that stop after its
// limit, whatever the planner's statistics say. Two cases once made the planner fetch every row after the
// cursor and sort them (a 1000-row page then read the whole backlog behind it): a partition without
// statistics yet (fresh, right after a burst of appends), and, with statistics, a cursor anywhere but at
// the start (the planner estimates a row comparison by its first column, the epoch, and found ~0 rows).
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { queriesFor } from '../../lib/durable/queries.js'
import { durableFixture, horizonPassed, type DurableFixture } from '../support/durable.js'

let fixture: DurableFixture
let client: pg.Client

beforeAll(async () => {
  fixture = await durableFixture('durable_plans')
  client = new pg.Client({ connectionString: fixture.url })
  await client.connect()
  for (let i = 0; i < 4999; i++) fixture.log.append$.next({ channel: 'plans', value: { i }, key: `k${i % 16}` })
  await fixture.log.append('plans', { i: 4999 }, { key: 'k0' })
  await horizonPassed(fixture.url)
})
afterAll(async () => {
  await client.end()
  await fixture.close()
})

interface PlanNode {
  readonly 'Relation Name'?: string
  readonly 'Actual Rows': number
  readonly 'Actual Loops': number
  readonly 'Rows Removed by Filter'?: number
  readonly Plans?: readonly PlanNode[]
}

/**
 * Rows the scans of the log's partitions returned or read and filtered out, in the plan the first execution of
 * `text` used (a custom plan). Filtered rows count: the page's header once read every partition whole, in a
 * sequential scan that returned nothing.
 */
async function rowsScanned(name: string, text: string, types: string, values: string): Promise<number> {
  await client.query(`DEALLOCATE ALL`)
  await client.query(`PREPARE ${name} (${types}) AS ${text}`)
  const { rows } = await client.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(`EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE ${name}(${values})`)
  const scanned = (node: PlanNode): number =>
    (node['Relation Name']?.startsWith('durable_log') ? (node['Actual Rows'] + (node['Rows Removed by Filter'] ?? 0)) * node['Actual Loops'] : 0) +
    (node.Plans ?? []).reduce((sum, child) => sum + scanned(child), 0)
  return scanned(rows[0]!['QUERY PLAN'][0]!.Plan)
}

const READ_TYPES = 'text, int, bigint, bigint, bigint'
const OWNED_TYPES = `${READ_TYPES}, int[], bigint[], bigint[]`
/** A consumer owning all 16 partitions, each at `position`. */
const owned = (position: { epoch: number; tx: string; id: string }) =>
  ['int', 'bigint', 'bigint'].map((type, index) => `ARRAY[${Array.from({ length: 16 }, () => [position.epoch, position.tx, position.id][index]).join(',')}]::${type}[]`).join(', ')

async function positionAt(offset: number): Promise<{ epoch: number; tx: string; id: string }> {
  const { rows } = await client.query<{ epoch: number; tx: string; id: string }>(
    `SELECT epoch, tx::text AS tx, id::text AS id FROM "${fixture.schema}".durable_log WHERE channel = 'plans' ORDER BY epoch, tx, id OFFSET $1 LIMIT 1`,
    [offset],
  )
  return rows[0]!
}

describe('page reads', () => {
  it("on a fresh backlog (no statistics yet), read and a consumer's read touch about a page's rows", async () => {
    const queries = queriesFor(fixture.schema)
    const start = { epoch: 0, tx: '0', id: '0' }
    for (const scanned of [
      await rowsScanned('plans_read', queries.read, READ_TYPES, `'plans', 0, 0, 0, 100`),
      await rowsScanned('plans_owned', queries.readOwned, OWNED_TYPES, `'plans', 0, 0, 0, 100, ${owned(start)}`),
    ]) {
      expect(scanned).toBeGreaterThanOrEqual(100)
      expect(scanned).toBeLessThan(500)
    }
  })

  it('with statistics gathered, from a cursor in the middle of the backlog, they touch about a page too', async () => {
    await client.query(`ANALYZE "${fixture.schema}".durable_log`)
    const queries = queriesFor(fixture.schema)
    const middle = await positionAt(2500)
    const at = `'plans', ${middle.epoch}, ${middle.tx}, ${middle.id}, 100`
    for (const scanned of [
      await rowsScanned('plans_read_mid', queries.read, READ_TYPES, at),
      await rowsScanned('plans_owned_mid', queries.readOwned, OWNED_TYPES, `${at}, ${owned(middle)}`),
    ]) {
      expect(scanned).toBeGreaterThanOrEqual(100)
      expect(scanned).toBeLessThan(500)
    }
  })
})
