/**
 * rxpg's own receive path counted rather than timed: instructions and simulated L1 data-cache misses per
 * notification, from valgrind's cachegrind, for lib/ as committed (HEAD) and for the working tree (or patched
 * copies), with 1 and with 10,000 channels. Wall-clock A/Bs at 10,000 channels vary by ±20% on this machine;
 * these counts repeat to within a few per cent, so a change that touches fewer objects per delivery shows.
 *
 *   npx tsx bench/route-cachegrind.ts [dir ...] [--patch file.diff ...]   (needs valgrind)
 *   ROUTE_CHANNELS=1,10000  ROUTE_COUNTS=100000,300000
 *
 * Each variant runs bench/workers/route.ts (router → decode → subscriber, no socket) at two counts, and reports
 * the difference divided by the difference in counts: start-up and the JIT's warm-up cancel out. Node runs with
 * --single-threaded (V8 compiles on the main thread), so the counts do not depend on thread timing.
 */
import { execFile } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { buildRxpg, comparedLibs } from './support/build.js'
import { cachegrindCount } from './support/cachegrind.js'

interface Counts {
  readonly instructions: number
  readonly d1Misses: number
}

function run(file: string, args: readonly string[]): Promise<string> {
  return new Promise((done, fail) =>
    execFile(file, args, { maxBuffer: 1 << 24 }, (error, stdout, stderr) => (error ? fail(new Error(`${file} failed: ${stderr}`)) : done(stderr))),
  )
}

async function cachegrind(harness: string, lib: string, channels: number, deliveries: number): Promise<Counts> {
  const report = await run('valgrind', ['--tool=cachegrind', '--cache-sim=yes', '--cachegrind-out-file=/dev/null', process.execPath, '--single-threaded', harness, lib, String(channels), String(deliveries)])
  return { instructions: cachegrindCount(report, 'I\\s+refs'), d1Misses: cachegrindCount(report, 'D1\\s+misses') }
}

async function main(): Promise<void> {
  const scratchDir = join(fileURLToPath(new URL('.', import.meta.url)), '.runs', 'route')
  await mkdir(scratchDir, { recursive: true })
  const channelCounts = (process.env.ROUTE_CHANNELS ?? '1,10000').split(',').map(Number)
  const [small, large] = (process.env.ROUTE_COUNTS ?? '100000,300000').split(',').map(Number) as [number, number]

  const sources = await comparedLibs(process.argv.slice(2), scratchDir)
  if (sources.length === 1) sources.push({ name: 'working tree', dir: fileURLToPath(new URL('../lib', import.meta.url)) })

  // The harness as one plain .mjs (its lib is imported at run time), so no TypeScript loader runs under valgrind.
  const harness = join(scratchDir, 'route.mjs')
  await build({ entryPoints: [fileURLToPath(new URL('workers/route.ts', import.meta.url))], bundle: true, platform: 'node', format: 'esm', outfile: harness, logLevel: 'error' })

  const variants: Array<{ name: string; lib: string }> = [{ name: 'raw pg (its bench handler)', lib: 'raw' }]
  for (const [index, { name, dir }] of sources.entries()) {
    const outDir = join(scratchDir, `build-${index}`)
    const compiled = await buildRxpg(outDir, dir)
    if (!compiled.url) throw new Error(`${dir}: ${compiled.how}`)
    await writeFile(join(outDir, 'package.json'), '{ "type": "module" }\n')
    variants.push({ name: `rxpg ${name}`, lib: outDir })
  }
  const rows: string[] = []
  for (const channels of channelCounts) {
    let raw: Counts | undefined
    for (const { name, lib } of variants) {
      const before = await cachegrind(harness, lib, channels, small)
      const after = await cachegrind(harness, lib, channels, large)
      const per: Counts = {
        instructions: (after.instructions - before.instructions) / (large - small),
        d1Misses: (after.d1Misses - before.d1Misses) / (large - small),
      }
      raw ??= per
      const ratio = (key: keyof Counts) => `${per[key].toFixed(1)} (${(per[key] / (raw as Counts)[key]).toFixed(3)}×)`
      rows.push(`| ${name} | ${channels.toLocaleString('en-US')} | ${ratio('instructions')} | ${ratio('d1Misses')} |`)
      console.log(rows.at(-1))
    }
  }
  console.log(
    [
      '',
      `Per notification (the difference between ${small.toLocaleString('en-US')} and ${large.toLocaleString('en-US')} deliveries), ratio to raw pg:`,
      '',
      '| receiver | channels | instructions | D1 misses |',
      '|---|---:|---:|---:|',
      ...rows,
    ].join('\n'),
  )
}

await main()
