/**
 * A/B of the receive path: rxpg compiled from the committed lib/ and from patched copies, against raw pg, in
 * one interleaved run. For checking a lib change before it lands:
 *
 *   npx tsx bench/ab.ts [dir ...] [--patch file.diff ...]
 *   e.g. npx tsx bench/ab.ts --patch my-change.diff
 *
 * The baseline is lib/ as committed (HEAD); a directory argument is a lib/ to compare (a patched copy), and
 * --patch applies a diff (paths a/lib/…) to a fresh export of HEAD's lib/.
 *
 *   AB_CHANNELS=10000  listened channels (default 1); with more than 1, a fixed rate is used (AB_RATE, 40000/s)
 *   AB_COUNT=100000    notifications per run;  AB_RUNS=5
 *   AB_MODE=live       live at AB_RATE even with one channel (default: drain for one channel, live for more)
 *   AB_PROFILE=1       then profile one more receiver per variant and print its top frames
 *
 * One channel: 'drain' mode (the receiver frozen while the backlog queues, then draining it); several: live
 * at a fixed rate, as in the fan-out scenario. Prints receiver CPU µs per notification, medians, and ratios.
 */
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { measure, startReceiver, startSender, type BenchContext } from './scenarios/common.js'
import { buildRxpg, comparedLibs } from './support/build.js'
import { benchDatabase } from './support/database.js'
import { profileTable, readProfile } from './support/profile.js'
import { formatNumber, summarize } from './support/stats.js'

async function main(): Promise<void> {
  const benchDir = fileURLToPath(new URL('.', import.meta.url))
  const scratchDir = join(benchDir, '.runs')
  const channels = Number(process.env.AB_CHANNELS ?? 1)
  const count = Number(process.env.AB_COUNT ?? 100_000)
  const runs = Number(process.env.AB_RUNS ?? 5)
  const rate = Number(process.env.AB_RATE ?? 40_000)
  const drain = channels === 1 && process.env.AB_MODE !== 'live'
  const keepAlive = setInterval(() => undefined, 60_000)
  const hardLimit = setTimeout(() => process.exit(2), 20 * 60_000)

  // Baseline: lib/ as committed (HEAD); then directories holding a lib, or --patch file.diff.
  const sources = (await comparedLibs(process.argv.slice(2), join(scratchDir, 'ab'))).map(({ name, dir }) => ({ name: `rxpg (${name})`, dir }))
  const variants: Array<{ name: string; peer: string; lib?: string }> = [{ name: 'pg', peer: 'pg' }]
  for (const { name, dir } of sources) {
    const build = await buildRxpg(join(scratchDir, `ab-build-${variants.length}`), dir)
    if (!build.url) throw new Error(`${dir}: ${build.how}`)
    console.log(`${name}: ${build.how}`)
    variants.push({ name, peer: 'rxpg', lib: build.url })
  }

  const database = await benchDatabase()
  const url = database.url
  const context: BenchContext = { url, quick: false, profile: false, scratchDir, log: console.log }
  const set = { prefix: `bench_ab_${channels}_`, count: channels }
  const cpu = new Map<string, number[]>(variants.map((variant) => [variant.name, []]))
  const profiles: string[] = []
  try {
    const sender = await startSender(context)
    try {
      for (let run = 0; run < runs; run++) {
        for (const variant of variants) {
          const { worker } = await startReceiver(context, variant.peer, set, { worker: { env: variant.lib ? { RXPG_LIB: variant.lib } : {} } })
          try {
            await measure(context, worker, sender, { channels: set, count: Math.min(count, 20_000), mode: 'live' })
            const result = drain
              ? await measure(context, worker, sender, { channels: set, count, mode: 'drain' })
              : await measure(context, worker, sender, { channels: set, count, mode: 'live', batch: 100, rate })
            cpu.get(variant.name)?.push(result.cpuPerNotification)
          } finally {
            await worker.stop()
          }
        }
      }
      if (process.env.AB_PROFILE === '1') {
        for (const variant of variants) {
          const { worker } = await startReceiver(context, variant.peer, set, { worker: { env: variant.lib ? { RXPG_LIB: variant.lib } : {} } })
          const path = join(scratchDir, `ab-${channels}-${variants.indexOf(variant)}-${Date.now()}.cpuprofile`)
          try {
            await measure(context, worker, sender, { channels: set, count: Math.min(count, 20_000), mode: 'live' })
            await worker.call('profileStart', { intervalUs: 100 })
            for (let repeat = 0; repeat < 3; repeat++) {
              if (drain) await measure(context, worker, sender, { channels: set, count, mode: 'drain' })
              else await measure(context, worker, sender, { channels: set, count, mode: 'live', batch: 100, rate })
            }
            await worker.call('profileStop', { path })
          } finally {
            await worker.stop()
          }
          profiles.push(`### ${variant.name}: 3 × ${count.toLocaleString('en-US')} notifications, ${relative(process.cwd(), path)}\n\n${profileTable(await readProfile(path, 12))}`)
        }
      }
    } finally {
      await sender.stop()
    }
  } finally {
    await database.release()
    clearInterval(keepAlive)
    clearTimeout(hardLimit)
  }
  const base = summarize(cpu.get('pg') as number[]).median
  for (const profile of profiles) console.log(`\n${profile}`)
  console.log(`\n${channels} channel(s), ${count.toLocaleString('en-US')} notifications, ${runs} runs (${drain ? 'drain' : `live at ${rate}/s`})`)
  for (const variant of variants) {
    const summary = summarize(cpu.get(variant.name) as number[])
    console.log(`${variant.name.padEnd(28)} ${formatNumber(summary.median)} µs/msg (${formatNumber(summary.min)}–${formatNumber(summary.max)})  ×${(summary.median / base).toFixed(3)} pg`)
  }
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
