/**
 * Writer cost: 1, 8 and 32 connections each committing one-row INSERT transactions as fast as they can, on a
 * table with no trigger, with the usual per-row NOTIFY trigger, and with rxpg's feeds. Nobody reads: this is
 * what the trigger costs the writers.
 *
 * Measured twice: with commits flushed to disk (fsync on, as a production server runs, on a server of its own),
 * where a commit waits for the disk and NOTIFY's commit lock serializes those waits; and with fsync off (the
 * embedded server's default), where commits are nearly free and a trigger's own CPU cost shows the most.
 */
import { pairedRatios } from '../scenarios/common.js'
import { summarize } from '../support/stats.js'
import { formatRate, rate, writerServers } from '../durable/context.js'
import { benchTables, clients, insertOne, VARIANTS, type ChangesBenchContext, type ChangesSection, type Variant } from './context.js'

const WRITER_COUNTS = [1, 8, 32] as const
const DURABLE_LEVELS = ['rxpg durable (statement-level)', 'rxpg durable (row-level)'] as const satisfies readonly Variant[]

/** Runs one-row INSERTs on every client for `ms`; returns commits per second. */
async function hammer(all: ReadonlyArray<{ query(config: ReturnType<typeof insertOne>): Promise<unknown> }>, table: string, ms: number): Promise<number> {
  let commits = 0
  const start = performance.now()
  await Promise.all(
    all.map(async (client, writer) => {
      while (performance.now() - start < ms) {
        await client.query(insertOne(table, writer))
        commits++
      }
    }),
  )
  return rate(commits, performance.now() - start)
}

export async function writersScenario(context: ChangesBenchContext): Promise<ChangesSection> {
  const ms = context.quick ? 1_500 : 5_000
  const runs = context.quick ? 1 : 5
  const { servers, flushed, destroy } = await writerServers(context.url)
  const figures: Record<string, number[]> = {}
  const key = (server: string, variant: Variant, writers: number) => `${server}|${writers}|${variant}`
  try {
    for (const server of servers) {
      const setup = await benchTables({ ...context, url: server.url })
      const pools = await clients(server.url, Math.max(...WRITER_COUNTS))
      try {
        // Interleaved: each run measures every variant at every writer count, in an order rotated from run to
        // run, so a shared machine's drifting load falls on all of them alike.
        for (let run = 0; run < runs; run++) {
          for (const writers of WRITER_COUNTS) {
            for (let i = 0; i < VARIANTS.length; i++) {
              const variant = VARIANTS[(i + run) % VARIANTS.length] as Variant
              await setup.reset()
              const figure = await hammer(pools.all.slice(0, writers), setup.tables[variant], ms)
              ;(figures[key(server.label, variant, writers)] ??= []).push(figure)
            }
            context.log(`writers ${server.label}, ${writers}: ${VARIANTS.map((variant) => `${variant} ${formatRate(figures[key(server.label, variant, writers)]!.at(-1)!)}`).join('; ')}`)
          }
        }
      } finally {
        await pools.end()
        await setup.close()
      }
    }
  } finally {
    await destroy()
  }

  const median = (server: string, variant: Variant, writers: number) => summarize(figures[key(server, variant, writers)] ?? []).median
  /** The median over runs of the per-run ratio (both figures from the same run). */
  const ratio = (server: string, variant: Variant, reference: Variant, writers: number) =>
    summarize(pairedRatios(figures[key(server, variant, writers)] ?? [], figures[key(server, reference, writers)] ?? [])).median
  const notifyTrigger = 'per-row NOTIFY of row_to_json(NEW)'
  return {
    id: 'writers',
    title: 'Writer cost: one-row transactions at 1, 8 and 32 writers',
    method: `Each writer is a connection committing \`INSERT INTO orders … VALUES (…)\` (one ~250-byte row, its own transaction, a prepared statement) in a loop for ${ms / 1000} s; nobody reads. Each variant has a table of its own, emptied (with the durable log) before each measurement. ${runs} run(s), variants interleaved in a rotated order; ratios are medians of per-run ratios. ${servers.map((server) => server.label).join(' and ')}${flushed ? ': a second embedded server with fsync on (commits wait for the disk, as in production), and the run\'s own with fsync off (commits nearly free: the trigger\'s own CPU cost shows the most)' : ''}.`,
    tables: servers.flatMap((server) => [
      {
        title: `${server.label}: commits/s (median)`,
        headers: ['writers', ...VARIANTS],
        rows: WRITER_COUNTS.map((writers) => [String(writers), ...VARIANTS.map((variant) => formatRate(median(server.label, variant, writers)))]),
      },
      {
        title: `${server.label}: ratios (median of per-run ratios)`,
        headers: ['writers', ...VARIANTS.slice(2).flatMap((variant) => [`${variant} ÷ no trigger`, '÷ NOTIFY trigger'])],
        rows: WRITER_COUNTS.map((writers) => [
          String(writers),
          ...VARIANTS.slice(2).flatMap((variant) => [`${ratio(server.label, variant, 'no trigger', writers).toFixed(2)}×`, `${ratio(server.label, variant, notifyTrigger, writers).toFixed(2)}×`]),
        ]),
      },
    ]),
    // Both trigger levels of the durable carrier, each against both references.
    targets: servers.flatMap((server) =>
      WRITER_COUNTS.flatMap((writers) =>
        DURABLE_LEVELS.flatMap((durable) => {
          const free = ratio(server.label, durable, 'no trigger', writers)
          const notify = ratio(server.label, durable, notifyTrigger, writers)
          const which = `${durable.replace('rxpg durable', 'durable carrier')}`
          return [
            { target: `${which} ≥ 0.8× trigger-free commits/s, ${writers} writer(s), ${server.label}`, measured: `${free.toFixed(2)}×`, met: free >= 0.8 },
            { target: `${which} ≥ 2× the per-row NOTIFY trigger, ${writers} writer(s), ${server.label}`, measured: `${notify.toFixed(2)}×`, met: notify >= 2 },
          ]
        }),
      ),
    ),
    raw: figures,
  }
}
