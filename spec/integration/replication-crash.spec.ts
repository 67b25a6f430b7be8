/**
 * Exactly-once effects across crashes: a consumer process that commits each change's effect with its
 * position (spec/integration/fixtures/replication-consumer.ts) is killed with SIGKILL again and again while
 * transactions of many changes stream (multi-row INSERTs and COPYs, so the kills land inside transactions whose
 * changes share one LSN), and the server restarts under it. Every source row must be in the ledger exactly once.
 * DEBUG_CRASH=1 shows what the consumer processes say.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import postgres from 'postgres'
import { describe, expect, it } from 'vitest'
import { dropReplication, ensureReplication } from '../../lib/replication/index.js'
import type { EmbeddedServer } from '../../support/embedded-server.js'
import { eventually } from '../support/database.js'
import { query, uniqueName, useLogicalServer } from '../support/replication.js'

const ROWS_PER_TRANSACTION = 200
const KILLS = 8

let server: EmbeddedServer
let url = ''
useLogicalServer((started) => {
  server = started
  url = started.url
})

interface Consumer {
  readonly process: ChildProcess
  readonly connected: Promise<void>
  readonly output: string[]
}

function startConsumer(names: { slot: string; publication: string }, table: string): Consumer {
  const child = spawn(process.execPath, ['--import', 'tsx', 'spec/integration/fixtures/replication-consumer.ts', url, names.slot, names.publication, table], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const output: string[] = []
  const connected = new Promise<void>((resolve, reject) => {
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      if (process.env.DEBUG_CRASH) process.stderr.write(`[consumer ${child.pid}] ${chunk}`)
      output.push(chunk)
      if (chunk.includes('connected')) resolve()
    })
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      if (process.env.DEBUG_CRASH) process.stderr.write(`[consumer ${child.pid} stderr] ${chunk}`)
      output.push(chunk)
    })
    child.once('exit', (code, signal) => reject(new Error(`consumer exited (${code ?? signal}) before connecting: ${output.join('')}`)))
  })
  connected.catch(() => undefined)
  return { process: child, connected, output }
}

async function kill(consumer: Consumer): Promise<void> {
  if (consumer.process.exitCode !== null || consumer.process.signalCode !== null) return
  const exited = new Promise((resolve) => consumer.process.once('exit', resolve))
  consumer.process.kill('SIGKILL')
  await exited
}

const ledgerCount = async () => Number((await query<{ n: string }>(url, 'SELECT count(*) AS n FROM ledger'))[0]?.n)

describe('replication: crashes and restarts', () => {
  it('commits every source row exactly once across kill -9 of the consumer mid-transaction and a server restart', { timeout: 180_000 }, async () => {
    const table = uniqueName('items')
    const names = { slot: uniqueName('slot'), publication: uniqueName('pub') }
    await query(url, `CREATE TABLE ${table} (id int PRIMARY KEY, note text)`)
    await query(url, 'CREATE TABLE IF NOT EXISTS ledger (id int, position text, last_in_transaction boolean)')
    await query(url, 'CREATE TABLE IF NOT EXISTS consumer_offset (consumer text PRIMARY KEY, token text)')
    await ensureReplication(url, { ...names, tables: [table] })
    const sql = postgres(url, { max: 1 })
    let written = 0
    /** One source transaction of ROWS_PER_TRANSACTION rows: a multi-row INSERT or a COPY, in turn. */
    const writeTransaction = async () => {
      const first = written + 1
      written += ROWS_PER_TRANSACTION
      if ((first - 1) / ROWS_PER_TRANSACTION % 2 === 0) {
        await query(url, `INSERT INTO ${table} SELECT g, 'inserted' FROM generate_series($1::int, $2::int) AS g`, [first, written])
      } else {
        const lines = Array.from({ length: ROWS_PER_TRANSACTION }, (_, index) => `${first + index}\tcopied\n`)
        await pipeline(Readable.from(lines), await sql`COPY ${sql(table)} (id, note) FROM STDIN`.writable())
      }
    }

    let consumer: Consumer | undefined
    let killedInsideTransaction = 0
    try {
      for (let round = 0; round < KILLS; round++) {
        consumer = startConsumer(names, table)
        await consumer.connected
        await writeTransaction()
        // Kill once the consumer is somewhere inside this transaction: past its first change, before its last.
        const before = await ledgerCount()
        const target = before + 1 + Math.floor(Math.random() * (written - before - 2))
        await eventually(async () => (await ledgerCount()) >= target, () => `consumer stuck: ${consumer?.output.join('')}`, 25_000)
        await kill(consumer)
        const committed = await ledgerCount()
        if (committed % ROWS_PER_TRANSACTION !== 0) killedInsideTransaction++
      }

      // A last consumer, and a server restart under it while it works through two more transactions.
      consumer = startConsumer(names, table)
      await consumer.connected
      await writeTransaction()
      await eventually(async () => (await ledgerCount()) > written - ROWS_PER_TRANSACTION / 2, () => `consumer stuck: ${consumer?.output.join('')}`, 25_000)
      await server.stop()
      await server.start()
      await writeTransaction()
      await eventually(async () => (await ledgerCount()) >= written, () => `ledger has ${written} rows? consumer: ${consumer?.output.join('')}`, 60_000)
    } finally {
      if (consumer !== undefined) await kill(consumer)
      await sql.end()
    }

    const [summary] = await query<{ rows: string; distinct_ids: string; lowest: number; highest: number }>(
      url,
      'SELECT count(*) AS rows, count(DISTINCT id) AS distinct_ids, min(id) AS lowest, max(id) AS highest FROM ledger',
    )
    const duplicates = await query(url, 'SELECT id, count(*) FROM ledger GROUP BY id HAVING count(*) > 1 ORDER BY id LIMIT 5')
    expect(duplicates).toEqual([])
    expect(summary).toEqual({ rows: String(written), distinct_ids: String(written), lowest: 1, highest: written })
    // Measured, not asserted: how many kills landed inside a transaction (the others fell on its boundary).
    console.log(`[measure] ${KILLS} kills, ${killedInsideTransaction} inside a transaction; ${written} rows, 0 lost, 0 duplicated`)
    await dropReplication(url, names)
  })
})
