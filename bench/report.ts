/**
 * Renders bench/RESULTS.md from a run's results. `npx tsx bench/report.ts [results.json]` re-renders it from
 * a saved results.json (e.g. after editing bench/analysis.md, which is included verbatim).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { renderChart } from './chart.js'
import type { ScenarioResult, Table } from './scenarios/common.js'
import type { MachineInfo } from './support/machine.js'

export interface RunRecord {
  readonly machine: MachineInfo
  readonly quick: boolean
  readonly selected: readonly string[]
  readonly totalMs: number
  readonly results: readonly ScenarioResult[]
  readonly failures: ReadonlyArray<{ readonly scenario: string; readonly error: string }>
}

function escapeCell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ')
}

export function markdownTable(table: Table): string {
  const lines: string[] = []
  if (table.title) lines.push(`**${table.title}**`, '')
  lines.push(`| ${table.headers.map(escapeCell).join(' | ')} |`)
  // Right-align a column when its cells are figures (they start with a digit, a sign or a dash).
  const numeric = table.headers.map((_, index) => index > 0 && table.rows.every((row) => /^([-−–+]?[\d.,]|–|\u2717|never|failed|$)/.test(row[index] ?? '')))
  lines.push(`|${table.headers.map((_, index) => (numeric[index] ? '---:' : '---')).join('|')}|`)
  for (const row of table.rows) lines.push(`| ${row.map(escapeCell).join(' | ')} |`)
  if (table.note) lines.push('', table.note)
  return lines.join('\n')
}

export async function renderResults(run: RunRecord & { readonly benchDir: string }): Promise<string> {
  // Paths inside the repository are shown relative to it.
  const root = fileURLToPath(new URL('..', import.meta.url))
  // The durable-channel and SSE sections come from their own runs (`npm run bench:durable`, `bench:sse`) and are kept as they are.
  const file = join(run.benchDir, 'RESULTS.md')
  const kept = [await keptDurableSection(file), await keptSection(file, SSE_START, SSE_END)].filter(Boolean)
  return (await render(run)).split(root).join('') + kept.map((section) => `\n${section}\n`).join('')
}

/** The section between the durable markers of an existing RESULTS.md, markers included; '' when there is none. */
export async function keptDurableSection(file: string): Promise<string> {
  return keptSection(file, DURABLE_START, DURABLE_END)
}

/**
 * Writes the figures of a run with a section of its own (`bench:durable`, `bench:sse`): a full run writes
 * `bench/<name>/results.json` and its section of RESULTS.md (between its markers); a partial or quick one
 * writes `bench/.runs/<name>-results.json` and `bench/.runs/<NAME>-RESULTS.md`, so it never overwrites results.
 */
export async function writeRunOutputs(run: {
  readonly benchDir: string
  readonly name: string
  readonly partial: boolean
  readonly record: unknown
  readonly section: string
  readonly markers: readonly [string, string]
  readonly log: (line: string) => void
}): Promise<void> {
  const outDir = run.partial ? join(run.benchDir, '.runs') : run.benchDir
  await mkdir(join(outDir, run.partial ? '' : run.name), { recursive: true })
  await writeFile(join(outDir, run.partial ? `${run.name}-results.json` : `${run.name}/results.json`), JSON.stringify(run.record, null, 2) + '\n')
  const file = run.partial ? join(outDir, `${run.name.toUpperCase()}-RESULTS.md`) : join(run.benchDir, 'RESULTS.md')
  if (run.partial) await writeFile(file, run.section + '\n')
  else await writeSection(file, run.markers[0], run.markers[1], run.section)
  run.log(`wrote ${run.partial ? file : `the ${run.name} section of ${file}`}`)
}

/** Writes `section` (markers included) in place of the one between `startMarker` and `endMarker` of `file`, or at its end. */
export async function writeSection(file: string, startMarker: string, endMarker: string, section: string): Promise<void> {
  const text = await readFile(file, 'utf8')
  const start = text.indexOf(startMarker)
  const end = text.indexOf(endMarker)
  await writeFile(file, start >= 0 && end > start ? text.slice(0, start) + section + text.slice(end + endMarker.length) : `${text.trimEnd()}\n\n${section}\n`)
}

/** The section between two markers of an existing RESULTS.md, markers included; '' when there is none. */
async function keptSection(file: string, startMarker: string, endMarker: string): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '')
  const start = text.indexOf(startMarker)
  const end = text.indexOf(endMarker)
  return start >= 0 && end > start ? text.slice(start, end + endMarker.length) : ''
}

export const DURABLE_START = '<!-- durable:start (written by npm run bench:durable) -->'
export const DURABLE_END = '<!-- durable:end -->'
export const SSE_START = '<!-- sse:start (written by npm run bench:sse) -->'
export const SSE_END = '<!-- sse:end -->'

async function render(run: RunRecord & { readonly benchDir: string }): Promise<string> {
  const { machine } = run
  const out: string[] = []
  out.push('# rxpg benchmarks: results')
  out.push('')
  out.push(
    `Generated by \`${run.quick ? 'BENCH_QUICK=1 ' : ''}npm run bench\` on ${machine.date.slice(0, 10)} (${(run.totalMs / 60_000).toFixed(1)} min${run.quick ? ', quick mode: fewer and shorter runs' : ''}). ` +
      'Method: [docs/benchmarks.md](../docs/benchmarks.md). Raw figures: [results.json](results.json). Every figure is a median over runs with its spread (min–max); ' +
      'ratios are medians of per-run ratios (libraries interleaved within each run). The machine is shared and has 2 cores: absolute numbers are noisy, ratios from one run are what counts.',
  )
  out.push('')
  out.push('## Machine')
  out.push('')
  out.push(
    markdownTable({
      headers: ['', ''],
      rows: [
        ['CPU', `${machine.cpuModel}, ${machine.cores} cores`],
        ['Memory', `${machine.memoryGiB} GiB`],
        ['OS', machine.os],
        ['Node', machine.node],
        ['PostgreSQL', machine.postgres],
        ['Libraries', Object.entries(machine.libraries).map(([name, version]) => `${name} ${version}`).join(', ')],
        ['rxpg', `commit ${machine.gitCommit}; ${machine.rxpgBuild ?? 'from source through tsx'}`],
        ['Load average at start', machine.loadAverageAtStart.join(' ')],
      ],
    }),
  )
  out.push('')
  out.push('## Targets')
  out.push('')
  const targets = run.results.flatMap((result) => result.targets.map((target) => [result.title, target.target, target.measured, target.met === null ? 'not measured' : target.met ? 'met' : '**missed**']))
  out.push(markdownTable({ headers: ['scenario', 'target', 'measured', ''], rows: targets }))
  out.push('')
  if (run.failures.length > 0) {
    out.push('**Scenarios that failed to run:** ' + run.failures.map((failure) => `${failure.scenario} (${failure.error.split('\n')[0]})`).join('; '))
    out.push('')
  }
  out.push('![Ratios to raw pg](results.svg)')
  out.push('')
  const analysis = await readFile(join(run.benchDir, 'analysis.md'), 'utf8').catch(() => undefined)
  if (analysis && !run.quick) {
    out.push(analysis.trim())
    out.push('')
  }
  for (const result of run.results) {
    out.push(`## ${result.title}`)
    out.push('')
    out.push(result.method)
    out.push('')
    for (const table of result.tables) {
      out.push(markdownTable(table))
      out.push('')
    }
    if (result.extra) {
      out.push(result.extra)
      out.push('')
    }
  }
  return out.join('\n')
}

async function main(): Promise<void> {
  const benchDir = dirname(fileURLToPath(import.meta.url))
  const source = process.argv[2] ?? join(benchDir, 'results.json')
  const run = JSON.parse(await readFile(source, 'utf8')) as RunRecord
  const outDir = dirname(source)
  await writeFile(join(outDir, 'RESULTS.md'), await renderResults({ ...run, benchDir }))
  await writeFile(join(outDir, 'results.svg'), renderChart(run.results))
  console.log(`wrote ${join(outDir, 'RESULTS.md')} and results.svg from ${source}`)
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((error: unknown) => {
    console.error(error)
    process.exit(1)
  })
}
