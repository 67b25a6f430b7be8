/**
 * A/B of the receive path: rxpg compiled from lib/ and from other source directories (a patched copy of
 * lib/), against raw pg, in one interleaved run. For checking a lib change before it lands:
 *
 *   npx tsx bench/ab.ts [dir ...]          e.g. npx tsx bench/ab.ts /tmp/lib-patched
 *
 *   AB_CHANNELS=10000  listened channels (default 1); with more than 1, a fixed rate is used (AB_RATE, 40000/s)
 *   AB_COUNT=100000    notifications per run;  AB_RUNS=5
 *
 * One channel: 'drain' mode (the receiver frozen while the backlog queues, then draining it); several: live
 * at a fixed rate, as in the fan-out scenario. Prints receiver CPU µs per notification, medians, and ratios.
 */
import { basename, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { measure, startReceiver, startSender, type BenchContext } from './scenarios/common.js'
import { buildRxpg } from './support/build.js'
import { formatNumber, summarize } from './support/stats.js'

async function main(): Promise<void> {
  const benchDir = fileURLToPath(new URL('.', import.meta.url))
  const scratchDir = join(benchDir, '.runs')
  const channels = Number(process.env.AB_CHANNELS ?? 1)
  const count = Number(process.env.AB_COUNT ?? 100_000)
  const runs = Number(process.env.AB_RUNS ?? 5)
  const rate = Number(process.env.AB_RATE ?? 40_000)
  const keepAlive = setInterval(() => undefined, 60_000)
  const hardLimit = setTimeout(() => process.exit(2), 20 * 60_000)

  const variants: Array<{ name: string; peer: string; lib?: string }> = [{ name: 'pg', peer: 'pg' }]
  for (const dir of [fileURLToPath(new URL('../lib', import.meta.url)), ...process.argv.slice(2).map((dir) => resolve(dir))]) {
    const name = dir.endsWith('/lib') && variants.length === 1 ? 'rxpg (lib/)' : `rxpg (${basename(dir)})`
    const build = await buildRxpg(join(scratchDir, `ab-${variants.length}`), dir)
    if (!build.url) throw new Error(`${dir}: ${build.how}`)
    console.log(`${name}: ${build.how}`)
    variants.push({ name, peer: 'rxpg', lib: build.url })
  }

  let url = process.env.DATABASE_URL
  let destroy: (() => Promise<void>) | undefined
  if (!url) {
    const { startEmbeddedServer } = await import('../examples/support/embedded-server.js')
    const server = await startEmbeddedServer()
    url = server.url
    destroy = () => server.destroy()
  }
  const context: BenchContext = { url, quick: false, profile: false, scratchDir, log: console.log }
  const set = { prefix: `bench_ab_${channels}_`, count: channels }
  const cpu = new Map<string, number[]>(variants.map((variant) => [variant.name, []]))
  try {
    const sender = await startSender(context)
    try {
      for (let run = 0; run < runs; run++) {
        for (const variant of variants) {
          const { worker } = await startReceiver(context, variant.peer, set, { worker: { env: variant.lib ? { RXPG_LIB: variant.lib } : {} } })
          try {
            await measure(context, worker, sender, { channels: set, count: Math.min(count, 20_000), mode: 'live' })
            const result =
              channels === 1
                ? await measure(context, worker, sender, { channels: set, count, mode: 'drain' })
                : await measure(context, worker, sender, { channels: set, count, mode: 'live', batch: 100, rate })
            cpu.get(variant.name)?.push(result.cpuPerNotification)
          } finally {
            await worker.stop()
          }
        }
      }
    } finally {
      await sender.stop()
    }
  } finally {
    await destroy?.()
    clearInterval(keepAlive)
    clearTimeout(hardLimit)
  }
  const base = summarize(cpu.get('pg') as number[]).median
  console.log(`\n${channels} channel(s), ${count.toLocaleString('en-US')} notifications, ${runs} runs (${channels === 1 ? 'drain' : `live at ${rate}/s`})`)
  for (const variant of variants) {
    const summary = summarize(cpu.get(variant.name) as number[])
    console.log(`${variant.name.padEnd(28)} ${formatNumber(summary.median)} µs/msg (${formatNumber(summary.min)}–${formatNumber(summary.max)})  ×${(summary.median / base).toFixed(3)} pg`)
  }
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
