/** The machine a run happened on, for RESULTS.md. */
import { execFileSync } from 'node:child_process'
import { cpus, loadavg, release, totalmem, type as osType } from 'node:os'
import pg from 'pg'

export interface MachineInfo {
  readonly cpuModel: string
  readonly cores: number
  readonly memoryGiB: number
  readonly os: string
  readonly node: string
  readonly postgres: string
  readonly libraries: Record<string, string>
  readonly loadAverageAtStart: readonly number[]
  readonly gitCommit: string
  readonly gitDirty: boolean
  readonly date: string
  /** How rxpg was loaded (compiled with tsc, or from source through tsx). */
  readonly rxpgBuild?: string
}

async function serverVersion(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url })
  client.on('error', () => undefined)
  try {
    await client.connect()
    const { rows } = await client.query<{ version: string }>('SELECT version()')
    return rows[0]?.version ?? 'unknown'
  } finally {
    await client.end().catch(() => undefined)
  }
}

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return ''
  }
}

async function packageVersion(name: string): Promise<string> {
  try {
    const { readFile } = await import('node:fs/promises')
    const path = new URL(`../../node_modules/${name}/package.json`, import.meta.url)
    return (JSON.parse(await readFile(path, 'utf8')) as { version: string }).version
  } catch {
    return 'unknown'
  }
}

export async function machineInfo(url: string): Promise<MachineInfo> {
  const cpuList = cpus()
  const libraries: Record<string, string> = {}
  for (const name of ['pg', 'pg-listen', 'pg-logical-replication', 'postgres', 'rxjs', 'tsx']) libraries[name] = await packageVersion(name)
  return {
    cpuModel: cpuList[0]?.model.trim() ?? 'unknown',
    cores: cpuList.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${osType()} ${release()}`,
    node: process.version,
    postgres: await serverVersion(url),
    libraries,
    loadAverageAtStart: loadavg().map((value) => Math.round(value * 100) / 100),
    gitCommit: git(['rev-parse', '--short', 'HEAD']),
    gitDirty: git(['status', '--porcelain', '--', 'lib']) !== '',
    date: new Date().toISOString(),
  }
}
