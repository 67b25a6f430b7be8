/**
 * What a durable log row costs the server to write, and where: the instructions valgrind's cachegrind counts in a
 * PostgreSQL backend running one-row transactions (an INSERT of one message and a COMMIT, in a loop inside a DO
 * block), into a plain log table (the 32-writers section's "plain log INSERT") and into rxpg's log, and then into
 * tables that each take one of the log's parts away: its partition routing, the channel in its position index,
 * the index; last, the plain table without its key, for what a one-column index costs there. Counted, because timed the writers section moves by ±20-30% on this machine.
 *
 *   npx tsx bench/log-row-cachegrind.ts          (needs valgrind; an embedded server, never DATABASE_URL)
 *   ROW_COUNTS=500,2500
 *
 * The tables are made on an embedded server, which is then stopped; each variant runs in a single-user backend
 * (`postgres --single`) under cachegrind at two loop lengths, and the difference divided by the difference in
 * rows is its count per transaction (the backend's start, the first plan and the shutdown cancel out). The loop
 * plans its INSERT once, as a prepared statement does (rxpg's `append` is one): per-execution work only.
 */
import pg from 'pg'
import { durableSchemaSql } from '../lib/durable/index.js'
import { startEmbeddedServer } from '../support/embedded-server.js'
import { countInstructions, postgresProgram } from './support/cachegrind.js'

const SCHEMA = 'rxpg'
const VALUE = `'{"order":12345,"status":"placed","total":12.5,"note":"${'n'.repeat(60)}"}'::json`

interface Variant {
  readonly label: string
  /** The table written, and its INSERT of one message. */
  readonly table: string
  readonly insert: string
}

/** Copies of the log's columns (its defaults too), unpartitioned, each with one index or none. */
const COPIES = [
  { table: 'log_flat', index: '(channel, epoch, tx, id)' },
  { table: 'log_flat_no_channel', index: '(epoch, tx, id)' },
  { table: 'log_flat_no_index', index: undefined },
] as const

const messageInto = (table: string) => `INSERT INTO ${table} (channel, part, key, value) VALUES ('bench', 0, NULL, ${VALUE})`

const VARIANTS: readonly Variant[] = [
  { label: 'plain log table: id bigserial primary key, channel, payload json, created_at', table: 'plain_log', insert: `INSERT INTO plain_log (channel, payload) VALUES ('bench', ${VALUE})` },
  { label: "rxpg's log, through its partitioned parent (what append does)", table: `${SCHEMA}.durable_log`, insert: messageInto(`${SCHEMA}.durable_log`) },
  { label: 'the same, into its partition directly (no partition routing)', table: `${SCHEMA}.durable_log_default`, insert: messageInto(`${SCHEMA}.durable_log_default`) },
  { label: 'its columns and position index, not partitioned', table: 'log_flat', insert: messageInto('log_flat') },
  { label: 'the same, the index without channel: (epoch, tx, id)', table: 'log_flat_no_channel', insert: messageInto('log_flat_no_channel') },
  { label: 'its columns, no index', table: 'log_flat_no_index', insert: messageInto('log_flat_no_index') },
  { label: 'the plain log table without its primary key', table: 'plain_log_no_key', insert: `INSERT INTO plain_log_no_key (channel, payload) VALUES ('bench', ${VALUE})` },
]

async function main(): Promise<void> {
  const [small, large] = (process.env.ROW_COUNTS ?? '500,2500').split(',').map(Number) as [number, number]
  const program = await postgresProgram()
  const server = await startEmbeddedServer({ settings: { fsync: 'off' } })
  try {
    const session = new pg.Client({ connectionString: server.url })
    await session.connect()
    await session.query(durableSchemaSql({ schema: SCHEMA }))
    await session.query('CREATE TABLE plain_log (id bigserial PRIMARY KEY, channel text NOT NULL, payload json NOT NULL, created_at timestamptz NOT NULL DEFAULT now())')
    await session.query('CREATE TABLE plain_log_no_key (id bigserial, channel text NOT NULL, payload json NOT NULL, created_at timestamptz NOT NULL DEFAULT now())')
    for (const copy of COPIES) {
      await session.query(`CREATE TABLE ${copy.table} (LIKE ${SCHEMA}.durable_log INCLUDING DEFAULTS)`)
      if (copy.index !== undefined) await session.query(`CREATE INDEX ON ${copy.table} ${copy.index}`)
    }
    const [{ collation } = { collation: 'unknown' }] = (await session.query<{ collation: string }>('SELECT datcollate AS collation FROM pg_database WHERE datname = current_database()')).rows
    const [{ version } = { version: 'unknown' }] = (await session.query<{ version: string }>("SELECT current_setting('server_version') AS version")).rows
    await session.end()
    await server.stop()

    const written = VARIANTS.map((variant) => variant.table).filter((table) => table !== `${SCHEMA}.durable_log_default`)
    const perTransaction = new Map<Variant, number>()
    for (const variant of VARIANTS) {
      const counts: number[] = []
      for (const rows of [small, large]) {
        const commands = `TRUNCATE ${written.join(', ')};\nDO $loop$ BEGIN FOR i IN 1..${rows} LOOP ${variant.insert}; COMMIT; END LOOP; END $loop$;\n`
        counts.push(await countInstructions(program, server.dataDirectory, commands))
      }
      perTransaction.set(variant, ((counts[1] as number) - (counts[0] as number)) / (large - small))
      console.log(`${variant.label}: ${Math.round(perTransaction.get(variant) as number).toLocaleString('en-US')} instructions per transaction`)
    }
    const plain = perTransaction.get(VARIANTS[0] as Variant) as number
    const format = (count: number) => Math.round(count).toLocaleString('en-US')
    console.log(
      [
        '',
        `Instructions per one-row transaction in the backend (PostgreSQL ${version}, database collation ${collation}; INSERT + COMMIT, the difference between loops of ${small.toLocaleString('en-US')} and ${large.toLocaleString('en-US')} rows), each variant against the one above it and against the plain log table:`,
        '',
        '| table written | per transaction | − the row above | − the plain log table |',
        '|---|---:|---:|---:|',
        ...VARIANTS.map((variant, index) => {
          const count = perTransaction.get(variant) as number
          const above = index === 0 ? undefined : (perTransaction.get(VARIANTS[index - 1] as Variant) as number)
          return `| ${variant.label} | ${format(count)} | ${above === undefined ? '' : format(count - above)} | ${index === 0 ? '' : format(count - plain)} |`
        }),
      ].join('\n'),
    )
  } finally {
    await server.destroy()
  }
}

await main()
