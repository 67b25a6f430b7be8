import pg from 'pg'
import type { DurableLog } from '../../lib/durable/index.js'

export interface TortureWriters {
  /** The values of every committed message, in no particular order. */
  readonly committed: string[]
  /** Transactions rolled back. */
  rolledBack: number
  transactions: number
  /** Resolves when every writer has stopped. */
  readonly done: Promise<void>
}

/**
 * Writers that append through their own transactions with random sleeps inside them and roll ~5% back, for the
 * torture spec and benchmark. Each writer has its key (`w<n>`), and its messages' `seq` grows in append order,
 * so per-key order can be checked. Each stops once `more()` says so at the start of a transaction.
 */
export function startTortureWriters(options: {
  readonly url: string
  readonly log: DurableLog
  readonly channel: string
  readonly writers: number
  /** Appends per transaction: 1 to this many. */
  readonly maxPerTransaction: number
  /** Most ms slept before each append (and before the end). */
  readonly maxSleep: number
  /** Whether a writer starts another transaction (`round` is its own count). */
  readonly more: (round: number) => boolean
}): TortureWriters {
  const state: TortureWriters = { committed: [], rolledBack: 0, transactions: 0, done: Promise.resolve() }
  const sleep = () => new Promise((resolve) => setTimeout(resolve, Math.random() * options.maxSleep))
  const writer = async (index: number) => {
    const client = new pg.Client({ connectionString: options.url })
    await client.connect()
    try {
      for (let round = 0; options.more(round); round++) {
        await client.query('BEGIN')
        const count = 1 + Math.floor(Math.random() * options.maxPerTransaction)
        const values: string[] = []
        for (let i = 0; i < count; i++) {
          await sleep()
          const value = `w${index}-r${round}-${i}`
          await options.log.append(options.channel, { seq: round * 1000 + i, value }, { client, key: `w${index}` })
          values.push(value)
        }
        await sleep()
        state.transactions++
        if (Math.random() < 0.05) {
          await client.query('ROLLBACK')
          state.rolledBack++
        } else {
          await client.query('COMMIT')
          state.committed.push(...values)
          options.log.wake(options.channel)
        }
      }
    } finally {
      await client.end()
    }
  }
  return Object.assign(state, { done: Promise.all(Array.from({ length: options.writers }, (_, index) => writer(index))).then(() => undefined) })
}
