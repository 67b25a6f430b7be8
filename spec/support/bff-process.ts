import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const MAIN = fileURLToPath(new URL('../../examples/bff/main.ts', import.meta.url))

/** The BFF example in a process of its own (`npm run example:bff`), so a spec can kill it and start it again. */
export class BffProcess {
  private child: ChildProcess | undefined

  constructor(
    readonly databaseUrl: string,
    readonly port: number,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`
  }

  /** Starts it and resolves once it listens. */
  async start(): Promise<void> {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
      env: { ...process.env, DATABASE_URL: this.databaseUrl, PORT: String(this.port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    this.child = child
    let output = ''
    await new Promise<void>((resolve, reject) => {
      const limit = setTimeout(() => reject(new Error(`the BFF did not start within 60 s:\n${output}`)), 60_000)
      const read = (chunk: Buffer) => {
        output += String(chunk)
        if (output.includes('listening on')) {
          clearTimeout(limit)
          resolve()
        }
      }
      child.stdout!.on('data', read)
      child.stderr!.on('data', read)
      child.once('exit', (code) => {
        clearTimeout(limit)
        reject(new Error(`the BFF exited (${code}):\n${output}`))
      })
    })
  }

  /** Kills it as a crash would (SIGKILL): no goodbye to the browsers. */
  kill(): Promise<void> {
    return this.signal('SIGKILL')
  }

  /** Stops it cleanly (SIGTERM: streams end with a shutdown event). */
  stop(): Promise<void> {
    return this.signal('SIGTERM')
  }

  private async signal(signal: NodeJS.Signals): Promise<void> {
    const child = this.child
    if (child === undefined || child.exitCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill(signal)
    await exited
  }
}
