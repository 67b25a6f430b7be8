/**
 * The runner behind `npm run bench:durable` and `npm run bench:changes`: each measures its sections against an
 * embedded PostgreSQL (or DATABASE_URL) and, in a full run, writes its own section of bench/RESULTS.md (between
 * its markers; the other sections are left alone) and its results.json. Quick or partial runs write to
 * bench/.runs/ instead.
 *
 *   BENCH_QUICK=1              small sizes, one run per figure
 *   BENCH_ONLY=a,b             some sections only
 */
import { readFile } from 'node:fs/promises'
import { loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import type { DurableBenchContext, DurableSection } from '../durable/context.js'
import { markdownTable, writeRunOutputs } from '../report.js'
import { benchDatabase } from './database.js'
import { machineInfo, type MachineInfo } from './machine.js'

export interface BenchRecord {
  readonly machine: MachineInfo
  readonly loadAtEnd: readonly number[]
  readonly quick: boolean
  readonly totalMs: number
  readonly sections: readonly DurableSection[]
}

export interface SectionBench {
  /** The npm script, as logs and the section name it. */
  readonly script: string
  /** The section's heading in RESULTS.md. */
  readonly heading: string
  /** The markers around the section in RESULTS.md. */
  readonly markers: { readonly start: string; readonly end: string }
  /** A full run writes its figures to bench/<name>/results.json, a partial one to bench/.runs/<name>-results.json. */
  readonly name: string
  readonly sections: Record<string, (context: DurableBenchContext) => Promise<DurableSection>>
  /** The whole run stops by itself after this long, whatever happens. */
  readonly hardLimitMs: number
  /** Library versions to list besides the usual ones. */
  readonly libraries?: readonly string[]
  /** The paragraph under the heading: how, when and where the figures were made. */
  describe(record: BenchRecord): string
}

export function runSectionBench(bench: SectionBench): void {
  void main(bench).then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error)
      process.exit(1)
    },
  )
}

async function main(bench: SectionBench): Promise<void> {
  const quick = process.env.BENCH_QUICK === '1'
  const only = process.env.BENCH_ONLY?.split(',').map((name) => name.trim()).filter(Boolean)
  const unknown = only?.filter((name) => !(name in bench.sections)) ?? []
  if (unknown.length > 0) throw new Error(`unknown section(s) in BENCH_ONLY: ${unknown.join(', ')} (known: ${Object.keys(bench.sections).join(', ')})`)
  const benchDir = fileURLToPath(new URL('..', import.meta.url))
  const partial = quick || only !== undefined
  const hardLimit = setTimeout(() => {
    console.error(`${bench.script}: hard limit of ${bench.hardLimitMs / 60_000} min reached, exiting`)
    process.exit(2)
  }, bench.hardLimitMs)
  const started = Date.now()
  const log = (line: string) => console.log(`[${((Date.now() - started) / 1000).toFixed(0).padStart(5)} s] ${line}`)
  const database = await benchDatabase()
  try {
    const base = await machineInfo(database.url)
    const extra = await Promise.all((bench.libraries ?? []).map(async (name) => [name, await versionOf(name)] as const))
    const machine = { ...base, libraries: { ...base.libraries, ...Object.fromEntries(extra) } }
    log(`${machine.cpuModel}, ${machine.cores} cores; load ${machine.loadAverageAtStart.join(' ')}; ${machine.postgres}`)
    const context: DurableBenchContext = { url: database.url, quick, runs: quick ? 1 : 3, log }
    const sections: DurableSection[] = []
    for (const name of only ?? Object.keys(bench.sections)) {
      log(`== ${name}`)
      sections.push(await (bench.sections[name] as (context: DurableBenchContext) => Promise<DurableSection>)(context))
    }
    const record: BenchRecord = { machine, loadAtEnd: loadavg().map((value) => Math.round(value * 100) / 100), quick, totalMs: Date.now() - started, sections }
    await writeRunOutputs({ benchDir, name: bench.name, partial, record, section: renderSection(bench, record), markers: bench.markers, log })
  } finally {
    clearTimeout(hardLimit)
    await database.release()
  }
}

async function versionOf(name: string): Promise<string> {
  const file = fileURLToPath(new URL(`../../node_modules/${name}/package.json`, import.meta.url))
  return (JSON.parse(await readFile(file, 'utf8')) as { version?: string }).version ?? 'unknown'
}

function renderSection(bench: SectionBench, record: BenchRecord): string {
  const out = [bench.markers.start, '', `## ${bench.heading}`, '', bench.describe(record), '', '### Goals', '']
  out.push(
    markdownTable({
      headers: ['goal', 'measured', ''],
      rows: record.sections.flatMap((section) => section.targets.map((target) => [target.target, target.measured, target.met === null ? '?' : target.met ? 'met' : 'missed'])),
    }),
  )
  for (const section of record.sections) {
    out.push('', `### ${section.title}`, '', section.method, '')
    for (const table of section.tables) out.push(markdownTable(table), '')
  }
  out.push(bench.markers.end)
  return out.join('\n')
}
