/**
 * Rows over the notification limit: 9,000-byte rows, each its own transaction. The usual per-row NOTIFY
 * trigger aborts every one of these writes ("payload string too long"); rxpg's feeds abort none.
 */
import { benchTables, clients, VARIANTS, type ChangesBenchContext, type ChangesSection } from './context.js'

export async function oversizeScenario(context: ChangesBenchContext): Promise<ChangesSection> {
  const count = context.quick ? 50 : 500
  const setup = await benchTables(context)
  const failed: Record<string, number> = {}
  try {
    const connection = await clients(context.url, 1)
    try {
      for (const variant of VARIANTS) {
        failed[variant] = 0
        for (let i = 0; i < count; i++) {
          await connection.all[0]!.query(`INSERT INTO ${setup.tables[variant]} (customer, status, total, note) VALUES ($1, 'placed', 1, $2)`, [i, 'x'.repeat(9000)]).catch(() => {
            failed[variant]! += 1
          })
        }
      }
    } finally {
      await connection.end()
    }
  } finally {
    await setup.close()
  }
  const rxpgFailures = VARIANTS.filter((variant) => variant.startsWith('rxpg')).reduce((sum, variant) => sum + (failed[variant] ?? 0), 0)
  return {
    id: 'oversize',
    title: '9,000-byte rows',
    method: `${count} one-row INSERT transactions of a 9,000-byte row per variant, one connection.`,
    tables: [{ headers: ['', 'writer transactions that failed'], rows: VARIANTS.map((variant) => [variant, `${failed[variant]} / ${count}`]) }],
    targets: [{ target: 'no row size aborts a writer (rxpg feeds)', measured: `${rxpgFailures} failed`, met: rxpgFailures === 0 }],
    raw: failed,
  }
}
