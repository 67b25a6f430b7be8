/** The machine a run happened on, for RESULTS.md. */
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
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
  /**
   * PostgreSQL servers running at the start besides the run's own (Linux: read from /proc; 0 elsewhere): left
   * over from other work, they take memory and some CPU, and a run beside them says so.
   */
  readonly otherPostgresServers: number
  readonly gitCommit: string
  readonly gitDirty: boolean
  readonly date: string
  /** How rxpg was loaded (compiled with tsc, or from source through tsx). */
  readonly rxpgBuild?: string
}

/**
 * The server's version, and its postmaster's pid when it runs on this machine (the parent of this session's
 * backend, read while the session lasts; undefined elsewhere).
 */
async function serverFacts(url: string): Promise<{ version: string; postmasterPid: string | undefined }> {
  const client = new pg.Client({ connectionString: url })
  client.on('error', () => undefined)
  try {
    await client.connect()
    const { rows } = await client.query<{ version: string; pid: number }>('SELECT version(), pg_backend_pid() AS pid')
    return { version: rows[0]?.version ?? 'unknown', postmasterPid: parentPid(String(rows[0]?.pid)) }
  } finally {
    await client.end().catch(() => undefined)
  }
}

function parentPid(pid: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[1]
  } catch {
    return undefined
  }
}

/** The pids of the postmasters (a `postgres` process started with `-D`) on this machine (Linux; none elsewhere). */
export function postmasters(): string[] {
  try {
    return readdirSync('/proc').filter((pid) => {
      if (!/^\d+$/.test(pid)) return false
      try {
        const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
        return /(^|\/)postgres$/.test(args[0] ?? '') && args.includes('-D')
      } catch {
        return false
      }
    })
  } catch {
    return []
  }
}

/** The pid of the postmaster of the server at `url`, when it runs on this machine. */
export async function postmasterOf(url: string): Promise<string | undefined> {
  return (await serverFacts(url)).postmasterPid
}

/** What RESULTS.md says about the machine being shared, with the other servers counted when there were any. */
export function sharingNote(machine: Pick<MachineInfo, 'otherPostgresServers'>): string {
  const others = machine.otherPostgresServers
  return `(the machine is shared: other work ran alongside${others > 0 ? `; ${others} other PostgreSQL server${others === 1 ? ' was' : 's were'} running at the start` : ''})`
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
  const facts = await serverFacts(url)
  return {
    cpuModel: cpuList[0]?.model.trim() ?? 'unknown',
    cores: cpuList.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${osType()} ${release()}`,
    node: process.version,
    postgres: facts.version,
    libraries,
    loadAverageAtStart: loadavg().map((value) => Math.round(value * 100) / 100),
    otherPostgresServers: postmasters().filter((pid) => pid !== facts.postmasterPid).length,
    gitCommit: git(['rev-parse', '--short', 'HEAD']),
    gitDirty: git(['status', '--porcelain', '--', 'lib']) !== '',
    date: new Date().toISOString(),
  }
}
