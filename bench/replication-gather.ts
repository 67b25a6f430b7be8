/**
 * What `gatherReads.window` does to a change stream draining a backlog: for each window (and `false`, reading
 * at once), a fresh slot, a backlog of rows committed in transactions of 100 while nothing reads it, then
 * `changeStream` reading it in this process; its rate and this process's CPU time per change, from the first
 * change to the last. The settings take turns within each round, so a busy machine's drift hits them alike.
 *
 *   npx tsx bench/replication-gather.ts          (an embedded server with wal_level=logical, never DATABASE_URL)
 *   GATHER_WINDOWS=1,3,10,false GATHER_ROUNDS=5 GATHER_ROWS=200000
 *
 * The backlog is decoded by the WAL sender as the stream reads, as in the drain part of the replication section
 * (`BENCH_ONLY=replication npm run bench`), where every feed runs in a process of its own; here only rxpg runs.
 */
import pg from 'pg'
import { changeStream, isCheckpoint, type ChangeStreamOptions } from '../lib/replication/index.js'
import { startEmbeddedServer } from '../support/embedded-server.js'
import { formatNumber, summarize } from './support/stats.js'

const ROWS = Number(process.env.GATHER_ROWS ?? 200_000)
const ROUNDS = Number(process.env.GATHER_ROUNDS ?? 5)
const SETTINGS = (process.env.GATHER_WINDOWS ?? '1,3,false').split(',').map((window) => (window === 'false' ? false : Number(window)))
const label = (setting: number | false) => (setting === false ? 'gatherReads: false' : `window ${setting} ms`)

interface Drained {
  readonly perSecond: number
  readonly cpuUsPerChange: number
  readonly gatheredReads: number
}

/** Reads `rows` changes from `slot` with `setting`, from the first change to the last. */
function drain(url: string, slot: string, setting: number | false, rows: number): Promise<Drained> {
  const gatherReads: ChangeStreamOptions['gatherReads'] = setting === false ? false : { window: setting }
  const stream = changeStream(url, { slot, publication: 'gather_pub', tables: ['gather_feed'], gatherReads })
  let received = 0
  let startedNs = 0n
  let startedCpu: NodeJS.CpuUsage | undefined
  return new Promise<Drained>((done, fail) => {
    stream.changes$.subscribe({
      next: (item) => {
        if (isCheckpoint(item)) return
        if (received === 0) {
          startedNs = process.hrtime.bigint()
          startedCpu = process.cpuUsage()
        }
        received += 1
        stream.ack(item.position)
        if (received < rows) return
        const seconds = Number(process.hrtime.bigint() - startedNs) / 1e9
        const cpu = process.cpuUsage(startedCpu)
        done({ perSecond: (rows - 1) / seconds, cpuUsPerChange: (cpu.user + cpu.system) / rows, gatheredReads: stream.metrics.snapshot().gatheredReads })
      },
      error: fail,
    })
  }).finally(() => stream.close())
}

async function main(): Promise<void> {
  const server = await startEmbeddedServer({ settings: { wal_level: 'logical', max_wal_size: '8GB' } })
  const client = new pg.Client({ connectionString: server.url })
  client.on('error', () => undefined)
  await client.connect()
  try {
    await client.query('CREATE TABLE gather_feed (id int PRIMARY KEY, t bigint NOT NULL, kind text NOT NULL, payload text NOT NULL)')
    await client.query('CREATE PUBLICATION gather_pub FOR TABLE gather_feed')
    const figures = new Map<number | false, Drained[]>(SETTINGS.map((setting) => [setting, []]))
    let nextId = 0
    for (let round = 0; round < ROUNDS; round++) {
      for (const setting of SETTINGS) {
        const slot = `gather_${round}_${String(setting)}`
        await client.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [slot])
        for (let written = 0; written < ROWS; written += 100) {
          await client.query(`INSERT INTO gather_feed SELECT g, 1, 'k', repeat('x', 150) FROM generate_series($1::int, $1::int + 99) g`, [nextId])
          nextId += 100
        }
        const drained = await drain(server.url, slot, setting, ROWS)
        figures.get(setting)?.push(drained)
        console.log(`round ${round + 1}/${ROUNDS} ${label(setting)}: ${formatNumber(drained.perSecond)} changes/s, ${formatNumber(drained.cpuUsPerChange)} µs CPU per change, ${drained.gatheredReads} gathering windows`)
        await client.query('SELECT pg_drop_replication_slot($1)', [slot])
        await client.query('TRUNCATE gather_feed')
      }
    }
    console.log(
      [
        '',
        `A backlog of ${formatNumber(ROWS)} rows of ~200 bytes in transactions of 100, drained by changeStream in this process; ${ROUNDS} rounds, the settings in turn; median (min–max):`,
        '',
        '| gatherReads | changes/s | CPU µs per change | gathering windows |',
        '|---|---:|---:|---:|',
        ...SETTINGS.map((setting) => {
          const runs = figures.get(setting) ?? []
          const cell = (values: number[]) => {
            const summary = summarize(values)
            return `${formatNumber(summary.median)} (${formatNumber(summary.min)}–${formatNumber(summary.max)})`
          }
          return `| ${label(setting)} | ${cell(runs.map((run) => run.perSecond))} | ${cell(runs.map((run) => run.cpuUsPerChange))} | ${formatNumber(summarize(runs.map((run) => run.gatheredReads)).median)} |`
        }),
      ].join('\n'),
    )
  } finally {
    await client.end()
    await server.destroy()
  }
}

await main()
