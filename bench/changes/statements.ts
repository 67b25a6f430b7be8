/**
 * Multi-row statements: 100-row INSERT statements from one connection, per variant. What each trigger adds
 * per row shows how statement-level triggers (one `INSERT … SELECT` from the transition table per statement)
 * compare with row-level ones (one call and one INSERT per row).
 */
import { summarize } from '../support/stats.js'
import { formatRate, rate } from '../durable/context.js'
import { benchTables, clients, NOTE, VARIANTS, type ChangesBenchContext, type ChangesSection, type Variant } from './context.js'

const ROWS_PER_STATEMENT = 100

export async function statementsScenario(context: ChangesBenchContext): Promise<ChangesSection> {
  const statements = context.quick ? 100 : 500
  const runs = context.quick ? 1 : 5
  const setup = await benchTables(context)
  const figures: Record<string, number[]> = {}
  try {
    const connection = await clients(context.url, 1)
    const [client] = connection.all
    try {
      for (let run = 0; run < runs; run++) {
        for (let i = 0; i < VARIANTS.length; i++) {
          const variant = VARIANTS[(i + run) % VARIANTS.length] as Variant
          await setup.reset()
          const insert = {
            name: `insert_many_${i}_${(i + run) % VARIANTS.length}`,
            text: `INSERT INTO ${setup.tables[variant]} (customer, status, total, note) SELECT g, 'placed', 12.50, $1 FROM generate_series(1, ${ROWS_PER_STATEMENT}) g`,
            values: [NOTE],
          }
          const start = performance.now()
          for (let s = 0; s < statements; s++) await client!.query(insert)
          ;(figures[variant] ??= []).push(rate(statements * ROWS_PER_STATEMENT, performance.now() - start))
        }
        context.log(`statements: ${VARIANTS.map((variant) => `${variant} ${formatRate(figures[variant]!.at(-1)!)}`).join('; ')}`)
      }
    } finally {
      await connection.end()
    }
  } finally {
    await setup.close()
  }
  const median = (variant: Variant) => summarize(figures[variant] ?? []).median
  /** µs a variant's trigger adds to each row, from the medians: 1/rate − 1/rate without a trigger. */
  const addedMicros = (variant: Variant) => (1 / median(variant) - 1 / median('no trigger')) * 1e6
  const statementLevel = addedMicros('rxpg durable (statement-level)')
  const rowLevel = addedMicros('rxpg durable (row-level)')
  return {
    id: 'statements',
    title: `Multi-row statements: ${ROWS_PER_STATEMENT} rows per INSERT`,
    method: `One connection runs ${statements} statements \`INSERT INTO orders … SELECT … FROM generate_series(1, ${ROWS_PER_STATEMENT})\` (each its own transaction) per variant; ${runs} run(s), interleaved and rotated; medians. "Added per row" is 1/rate − 1/rate without a trigger.`,
    tables: [
      {
        headers: ['', 'rows/s (median)', 'min–max', 'added per row'],
        rows: VARIANTS.map((variant) => {
          const s = summarize(figures[variant] ?? [])
          return [variant, formatRate(s.median), `${formatRate(s.min)} – ${formatRate(s.max)}`, variant === 'no trigger' ? '' : `${addedMicros(variant).toFixed(1)} µs`]
        }),
      },
    ],
    targets: [{ target: 'statement-level triggers cost less per row than row-level ones for multi-row statements', measured: `${statementLevel.toFixed(1)} µs vs ${rowLevel.toFixed(1)} µs per row`, met: statementLevel < rowLevel }],
    raw: figures,
  }
}
