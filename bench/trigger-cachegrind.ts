/**
 * What each change-feed trigger costs the server per writing transaction, counted rather than timed: the
 * instructions valgrind's cachegrind counts in a PostgreSQL backend running one-row transactions (an INSERT of
 * an order row and a COMMIT, in a loop inside a DO block) on the tables of the change-feed writers section,
 * each with its trigger. Timed, the same loop moves by ±30% on this machine from one run to the next (the
 * writers section through clients by ±20%); counted, it repeats within 2% (the wake-up branch runs by the
 * clock), so a trigger body a few per cent cheaper shows.
 *
 *   npx tsx bench/trigger-cachegrind.ts          (needs valgrind; an embedded server, never DATABASE_URL)
 *   TRIGGER_COUNTS=500,1500
 *
 * The tables and feeds are installed on an embedded server, which is then stopped; each variant runs in a
 * backend of its own in single-user mode (`postgres --single`) under cachegrind, at two loop lengths, and the
 * difference divided by the difference in rows is its count per transaction: the backend's start, the first
 * call's compilation and the shutdown cancel out. Besides the writers section's variants, the hand-written
 * trigger writing into rxpg's own log table: what the log row costs (its position columns and index, partition
 * routing) apart from the rxpg trigger's body. The durable carriers run with a wider wake-up window (WAKE_WINDOW_MS).
 */
import pg from 'pg'
import { startEmbeddedServer } from '../support/embedded-server.js'
import { countInstructions, postgresProgram } from './support/cachegrind.js'
import { changeFeedSql } from '../lib/changes/index.js'
import { benchTables, VARIANTS } from './changes/context.js'

const INTO_RXPG_LOG = "hand-written log-table trigger into rxpg's log"
/**
 * The durable carriers' wake-up window here: valgrind runs the backend about ten times slower than at full speed
 * (1,000 such transactions: 0.18 s, 2.4 s under cachegrind), so at the default 5 ms the branch that reads the
 * wake-up sequence and NOTIFYs would run ten times as often per transaction as it does at full speed.
 */
const WAKE_WINDOW_MS = 50

async function main(): Promise<void> {
  const [small, large] = (process.env.TRIGGER_COUNTS ?? '500,1500').split(',').map(Number) as [number, number]
  const program = await postgresProgram()
  const server = await startEmbeddedServer({ settings: { fsync: 'off' } })
  try {
    const setup = await benchTables({ url: server.url, quick: false, runs: 1, log: () => undefined })
    const tables: Record<string, string> = { ...setup.tables }
    const session = new pg.Client({ connectionString: server.url })
    await session.connect()
    const table = `"${setup.schema}".orders_into_log`
    await session.query(`CREATE TABLE ${table} (LIKE ${setup.tables['no trigger']} INCLUDING ALL);
      CREATE FUNCTION "${setup.schema}".into_log() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
        INSERT INTO "${setup.schema}".durable_log (channel, part, key, value) VALUES ('into_log', 0, NULL, row_to_json(NEW)); RETURN NULL; END $$;
      CREATE TRIGGER log AFTER INSERT OR UPDATE OR DELETE ON ${table} FOR EACH ROW EXECUTE FUNCTION "${setup.schema}".into_log()`)
    tables[INTO_RXPG_LOG] = table
    for (const spec of Object.values(setup.specs)) if (spec.carrier !== 'light') await session.query(changeFeedSql({ ...spec, wakeWindow: WAKE_WINDOW_MS }).install)
    // Every table the triggers write: emptied before each loop, so both loop lengths start alike.
    const written = (
      await session.query<{ name: string }>(
        `SELECT c.oid::regclass::text AS name FROM pg_class c WHERE c.relnamespace = $1::regnamespace AND c.relkind IN ('r', 'p') AND (c.relname LIKE 'orders%' OR c.relname LIKE 'log%' OR c.relname = 'durable_log')`,
        [setup.schema],
      )
    ).rows.map((row) => row.name)
    await session.end()
    await server.stop()

    const variants = [...VARIANTS.slice(0, 3), INTO_RXPG_LOG, ...VARIANTS.slice(3)]
    const loop = (variant: string, rows: number) =>
      `DO $loop$ BEGIN FOR i IN 1..${rows} LOOP INSERT INTO ${tables[variant]} (customer, status, total, note) VALUES (i, 'placed', 12.50, repeat('n', 200)); COMMIT; END LOOP; END $loop$;`
    const perTransaction: Record<string, number> = {}
    for (const variant of variants) {
      const counts: number[] = []
      for (const rows of [small, large]) {
        const commands = `TRUNCATE ${written.join(', ')};\n${loop(variant, rows)}\n`
        counts.push(await countInstructions(program, server.dataDirectory, commands))
      }
      perTransaction[variant] = ((counts[1] as number) - (counts[0] as number)) / (large - small)
      console.log(`${variant}: ${Math.round(perTransaction[variant]).toLocaleString('en-US')} instructions per transaction`)
    }
    const none = perTransaction['no trigger'] as number
    const hand = (perTransaction['hand-written log-table trigger'] as number) - none
    console.log(
      [
        '',
        `Instructions per one-row transaction in the backend (INSERT + COMMIT, the difference between loops of ${small.toLocaleString('en-US')} and ${large.toLocaleString('en-US')} rows), what the trigger adds, and that over what the hand-written log-table trigger adds:`,
        '',
        '| trigger | per transaction | added by the trigger | × the hand-written trigger |',
        '|---|---:|---:|---:|',
        ...variants.map((variant) => {
          const count = perTransaction[variant] as number
          const added = count - none
          return `| ${variant} | ${Math.round(count).toLocaleString('en-US')} | ${variant === 'no trigger' ? '' : Math.round(added).toLocaleString('en-US')} | ${variant === 'no trigger' ? '' : `${(added / hand).toFixed(2)}×`} |`
        }),
      ].join('\n'),
    )
  } finally {
    await server.destroy()
  }
}

await main()
