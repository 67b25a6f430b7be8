/** Reads a V8 `.cpuprofile` (from `node --cpu-prof`) and ranks the frames by self time. */
import { readFile } from 'node:fs/promises'

interface ProfileNode {
  readonly id: number
  readonly callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number }
  readonly hitCount?: number
  readonly children?: readonly number[]
}

export interface CpuProfile {
  readonly nodes: readonly ProfileNode[]
  readonly samples?: readonly number[]
  readonly timeDeltas?: readonly number[]
  readonly startTime: number
  readonly endTime: number
}

export interface Frame {
  readonly name: string
  /** file:line, shortened to the package or project path. */
  readonly where: string
  /** Share of the busy samples (idle, program and GC counted as their own rows), 0..1. */
  readonly selfShare: number
  readonly selfMs: number
}

export interface ProfileSummary {
  readonly busyMs: number
  readonly frames: readonly Frame[]
  /** Self time by origin: node internals, pg, rxjs, rxpg (lib/), bench, other packages. */
  readonly byOrigin: ReadonlyArray<{ readonly origin: string; readonly share: number }>
}

const SPECIAL = new Set(['(idle)', '(program)', '(root)'])

export function shortenUrl(url: string): string {
  if (url === '') return ''
  const path = url.replace(/^file:\/\//, '')
  const modules = path.lastIndexOf('/node_modules/')
  if (modules >= 0) return path.slice(modules + '/node_modules/'.length)
  // rxpg as the harness compiled it: bench/.runs/<dir>/… (the sources exported to src-head/lib, or the output)
  const runs = path.indexOf('/bench/.runs/')
  if (runs >= 0) {
    const rest = path.slice(runs + '/bench/.runs/'.length)
    const inside = rest.slice(rest.indexOf('/') + 1)
    return inside.startsWith('lib/') ? inside : `lib/${inside}`
  }
  const lib = path.indexOf('/lib/')
  const bench = path.indexOf('/bench/')
  if (bench >= 0) return path.slice(bench + 1)
  if (lib >= 0) return path.slice(lib + 1)
  return path
}

export function originOf(url: string, name: string): string {
  if (name === '(garbage collector)') return 'GC'
  if (url === '' || url.startsWith('node:')) return 'node / V8'
  const short = shortenUrl(url)
  if (short.startsWith('pg-protocol/') || short.startsWith('pg/') || short.startsWith('pg-')) return short.split('/')[0] as string
  if (short.startsWith('rxjs/')) return 'rxjs'
  if (short.startsWith('postgres/')) return 'postgres'
  if (short.startsWith('lib/')) return 'rxpg (lib/)'
  if (short.startsWith('bench/')) return 'bench handler (incl. JSON.parse for pg and postgres.js)'
  if (short.startsWith('fp-ts/')) return 'fp-ts'
  if (!short.includes('/')) return 'node / V8'
  return short.split('/')[0] as string
}

/** Self time per frame (same function at the same place merged), idle left out, top `limit` first. */
export function summarizeProfile(profile: CpuProfile, limit = 15): ProfileSummary {
  const byId = new Map<number, ProfileNode>()
  for (const node of profile.nodes) byId.set(node.id, node)
  const hits = new Map<number, number>()
  const durations = new Map<number, number>()
  if (profile.samples && profile.timeDeltas) {
    // A gap far longer than the sampling interval (the process was frozen by SIGSTOP, or descheduled) is not
    // time spent in the sampled frame: each delta is capped at 4× the median interval.
    const sortedDeltas = [...profile.timeDeltas].sort((a, b) => a - b)
    const cap = 4 * (sortedDeltas[Math.floor(sortedDeltas.length / 2)] ?? 0)
    for (let index = 0; index < profile.samples.length; index++) {
      const id = profile.samples[index] as number
      // timeDeltas[i+1] is the time until the next sample: attribute it to sample i.
      const delta = Math.min(profile.timeDeltas[index + 1] ?? 0, cap) / 1000
      hits.set(id, (hits.get(id) ?? 0) + 1)
      durations.set(id, (durations.get(id) ?? 0) + delta)
    }
  } else {
    for (const node of profile.nodes) hits.set(node.id, node.hitCount ?? 0)
  }
  const merged = new Map<string, { name: string; where: string; url: string; ms: number }>()
  let busyMs = 0
  for (const [id, ms] of durations.size > 0 ? durations : hits) {
    const node = byId.get(id)
    if (!node || SPECIAL.has(node.callFrame.functionName)) continue
    const name = node.callFrame.functionName || '(anonymous)'
    const where = node.callFrame.url ? `${shortenUrl(node.callFrame.url)}:${node.callFrame.lineNumber + 1}` : ''
    const key = `${name}@${where}`
    const entry = merged.get(key) ?? { name, where, url: node.callFrame.url, ms: 0 }
    entry.ms += ms
    merged.set(key, entry)
    busyMs += ms
  }
  const sorted = [...merged.values()].sort((a, b) => b.ms - a.ms)
  const origins = new Map<string, number>()
  for (const entry of sorted) {
    const origin = originOf(entry.url, entry.name)
    origins.set(origin, (origins.get(origin) ?? 0) + entry.ms)
  }
  return {
    busyMs,
    frames: sorted.slice(0, limit).map((entry) => ({ name: entry.name, where: entry.where, selfMs: entry.ms, selfShare: busyMs > 0 ? entry.ms / busyMs : 0 })),
    byOrigin: [...origins.entries()].sort((a, b) => b[1] - a[1]).map(([origin, ms]) => ({ origin, share: busyMs > 0 ? ms / busyMs : 0 })),
  }
}

/**
 * Rewrites call frames from tsx's generated code to the TypeScript source (line, column) through the source
 * maps Node registered; call it in the profiled process.
 */
export function remapProfile(profile: CpuProfile, find: (url: string) => { findEntry(line: number, column: number): object } | undefined): CpuProfile {
  for (const node of profile.nodes) {
    const frame = node.callFrame
    if (!frame.url.startsWith('file:')) continue
    const entry = find(frame.url)?.findEntry(frame.lineNumber, frame.columnNumber) as { originalLine?: number; originalColumn?: number; originalSource?: string } | undefined
    if (entry?.originalLine === undefined) continue
    frame.lineNumber = entry.originalLine
    frame.columnNumber = entry.originalColumn ?? 0
    if (entry.originalSource) frame.url = entry.originalSource
  }
  return profile
}

export async function readProfile(path: string, limit = 15): Promise<ProfileSummary> {
  return summarizeProfile(JSON.parse(await readFile(path, 'utf8')) as CpuProfile, limit)
}

/** A markdown table of the top frames. */
export function profileTable(summary: ProfileSummary): string {
  const lines = ['| self % | self ms | function | where |', '|---:|---:|---|---|']
  for (const frame of summary.frames) {
    lines.push(`| ${(frame.selfShare * 100).toFixed(1)} | ${frame.selfMs.toFixed(0)} | \`${frame.name}\` | ${frame.where ? `\`${frame.where}\`` : ''} |`)
  }
  const origins = summary.byOrigin.map((origin) => `${origin.origin} ${(origin.share * 100).toFixed(1)}%`).join(', ')
  return `${lines.join('\n')}\n\nSelf time by origin (busy ${summary.busyMs.toFixed(0)} ms): ${origins}.`
}
