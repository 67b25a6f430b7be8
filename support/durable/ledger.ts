import type pg from 'pg'
import type { DurableMessage } from '../../lib/durable/index.js'
import { adminQuery } from '../../spec/support/database.js'

/**
 * A table that consumer handlers (in specs, their fixture processes and the benchmarks) write their effects to, in the transaction rxpg hands them: one row per
 * message processed. No unique constraint on purpose: a duplicate effect must be countable, not an error.
 */
export interface Ledger {
  readonly table: string
  /** The handler side: records each message of the batch through the batch's client. */
  record(messages: ReadonlyArray<DurableMessage<unknown>>, client: pg.ClientBase, member: string): Promise<void>
  /** Tokens recorded more than once. */
  duplicates(): Promise<string[]>
  /** How many effects were recorded in all. */
  count(): Promise<number>
  /** Keys whose effects were recorded out of their append order (seq not increasing in record order). */
  outOfOrderKeys(): Promise<string[]>
  /** Every recorded token. */
  tokens(): Promise<string[]>
}

export async function createLedger(schema: string, url: string): Promise<Ledger> {
  const table = `"${schema}".ledger`
  await adminQuery(`CREATE TABLE IF NOT EXISTS ${table} (applied bigserial, token text NOT NULL, key text, seq int, member text)`, [], url)
  return ledgerOn(table, url)
}

export function ledgerOn(table: string, url: string): Ledger {
  return {
    table,
    async record(messages, client, member) {
      if (messages.length === 0) return
      await client.query(`INSERT INTO ${table} (token, key, seq, member) SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[])`, [
        messages.map((m) => m.token),
        messages.map((m) => m.key ?? null),
        messages.map((m) => (m.value as { seq?: number } | null)?.seq ?? null),
        messages.map(() => member),
      ])
    },
    duplicates: async () => (await adminQuery<{ token: string }>(`SELECT token FROM ${table} GROUP BY token HAVING count(*) > 1`, [], url)).map((row) => row.token),
    count: async () => Number((await adminQuery<{ n: string }>(`SELECT count(*) AS n FROM ${table}`, [], url))[0]?.n ?? 0),
    outOfOrderKeys: async () =>
      (
        await adminQuery<{ key: string }>(
          `SELECT DISTINCT key FROM (SELECT key, seq, lag(seq) OVER (PARTITION BY key ORDER BY applied) AS previous FROM ${table}) s WHERE seq <= previous`,
          [],
          url,
        )
      ).map((row) => row.key),
    tokens: async () => (await adminQuery<{ token: string }>(`SELECT token FROM ${table} ORDER BY applied`, [], url)).map((row) => row.token),
  }
}
