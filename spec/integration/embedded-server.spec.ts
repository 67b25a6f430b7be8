// The embedded server helper that specs, examples and benchmarks start PostgreSQL with: a process that ends
// abruptly (an uncaught exception) must not leave its postmaster running, or later runs (benchmarks above
// all) share the machine with servers nobody stops.
import { spawn } from 'node:child_process'
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { eventually } from '../support/database.js'
import { embeddedVersion } from '../support/global-setup.js'

/** Runs the crashing fixture; returns the data directory it printed and how it exited. */
async function crashWithServer(version?: number): Promise<{ dataDirectory: string; code: number | null }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'spec/integration/fixtures/crash-with-server.ts', ...(version === undefined ? [] : [String(version)])], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => void (out += chunk))
  child.stderr.resume()
  const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)))
  return { dataDirectory: out.trim().split('\n').at(-1) ?? '', code }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('an embedded server whose process dies of an uncaught exception', () => {
  // The versioned build with the run's own version (RXPG_PG_VERSION), or with 18, the platform package's.
  const versioned = embeddedVersion().version ?? 18
  for (const [name, version] of [['the default build', undefined], [`a versioned build (${versioned})`, versioned]] as const) {
    it(`is shut down with it: ${name}`, async () => {
      const { dataDirectory, code } = await crashWithServer(version)
      expect(code).toBe(1)
      expect(dataDirectory).toMatch(/rxpg-pg-/)
      // The postmaster writes its pid on the first line of postmaster.pid and removes the file on shutdown.
      const pid = Number((await readFile(join(dataDirectory, 'postmaster.pid'), 'utf8').catch(() => '0')).split('\n')[0])
      try {
        await eventually(() => pid === 0 || !alive(pid), () => `postmaster ${pid} of ${dataDirectory} still runs after its process died`)
      } finally {
        if (pid > 0 && alive(pid)) process.kill(pid, 'SIGKILL')
        await rm(dataDirectory, { recursive: true, force: true })
      }
    }, 60_000)
  }
})
