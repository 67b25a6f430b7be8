/**
 * Child processes for the harness: receivers and senders each run in a process of their own (forked with
 * tsx), so `process.cpuUsage()` in a receiver measures only the receiver. The parent drives them with a tiny
 * request/response protocol over the IPC channel; every call has a time-out and every child has a life limit,
 * so nothing outlives the run.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

interface Request {
  readonly id: number
  readonly op: string
  readonly args: unknown
}

type Reply = { readonly id: number; readonly ok: true; readonly result: unknown } | { readonly id: number; readonly ok: false; readonly error: string }

type Ready = { readonly ready: true }

export interface WorkerOptions {
  /** Extra Node flags: `--expose-gc`, `--cpu-prof`, ... */
  readonly nodeFlags?: readonly string[]
  /** The child exits by itself after this long whatever happens, in ms. Default 10 minutes. */
  readonly lifeLimitMs?: number
  readonly env?: Record<string, string>
}

const tsxLoader = import.meta.resolve('tsx')

/** A forked worker process and its request/response channel. */
export class Worker {
  private nextId = 1
  private readonly pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void; timer: NodeJS.Timeout }>()
  private exited = false
  readonly exit: Promise<number | null>

  private constructor(
    private readonly child: ChildProcess,
    readonly name: string,
  ) {
    this.exit = new Promise((resolve) => child.once('exit', (code) => resolve(code)))
    child.on('message', (message: Reply | Ready) => {
      if ('ready' in message) return
      const waiting = this.pending.get(message.id)
      if (!waiting) return
      this.pending.delete(message.id)
      clearTimeout(waiting.timer)
      if (message.ok) waiting.resolve(message.result)
      else waiting.reject(new Error(`${name}: ${message.error}`))
    })
    child.once('exit', (code, signal) => {
      this.exited = true
      for (const [, waiting] of this.pending) {
        clearTimeout(waiting.timer)
        waiting.reject(new Error(`${name} exited (code ${code}, signal ${signal}) with a call pending`))
      }
      this.pending.clear()
    })
  }

  /** Forks `bench/workers/<file>.ts` (or `file` itself when it is an absolute path) and waits until it is ready for calls. */
  static async start(file: string, name: string, options: WorkerOptions = {}): Promise<Worker> {
    const path = file.startsWith('/') ? file : fileURLToPath(new URL(`../workers/${file}.ts`, import.meta.url))
    const child = fork(path, [], {
      execArgv: ['--import', tsxLoader, ...(options.nodeFlags ?? [])],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, ...options.env, BENCH_WORKER_LIFE_MS: String(options.lifeLimitMs ?? 600_000) },
    })
    const worker = new Worker(child, name)
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL')
        reject(new Error(`${name} did not start within 30 s`))
      }, 30_000)
      child.once('message', () => {
        clearTimeout(timer)
        resolve()
      })
      child.once('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`${name} exited with code ${code} before it was ready`))
      })
    })
    return worker
  }

  get pid(): number {
    return this.child.pid ?? -1
  }

  /** Calls `op` in the child; rejects after `timeoutMs`. */
  call<T>(op: string, args: unknown = {}, timeoutMs = 60_000): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`${this.name} has exited`))
    const id = this.nextId++
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new Error(`${this.name}: ${op} got no answer within ${timeoutMs} ms`))
      }, timeoutMs)
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject, timer })
      this.child.send({ id, op, args } satisfies Request)
    })
  }

  /** Freezes the process (SIGSTOP): it reads nothing and spends no CPU until `resume()`. */
  pause(): void {
    this.child.kill('SIGSTOP')
  }

  resume(): void {
    this.child.kill('SIGCONT')
  }

  /** Asks the child to clean up and exit; kills it if it has not within `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.exited) return
    this.resume()
    await this.call('exit', {}, graceMs).catch(() => undefined)
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs)
    await this.exit
    clearTimeout(timer)
  }

  kill(): void {
    if (!this.exited) this.child.kill('SIGKILL')
  }
}

/** Child side: answers calls with `handlers`, exits on `exit`, on losing the parent, or at its life limit. */
export function serveWorker(handlers: Record<string, (args: never) => unknown>, onExit: () => Promise<void> = async () => undefined): void {
  const send = process.send?.bind(process)
  if (!send) throw new Error('a bench worker must be started by the harness (child_process.fork)')
  const life = Number(process.env.BENCH_WORKER_LIFE_MS ?? 600_000)
  setTimeout(() => {
    console.error(`bench worker ${process.pid}: life limit of ${life} ms reached, exiting`)
    process.exit(3)
  }, life).unref()
  let exiting = false
  const exit = async (code: number) => {
    if (exiting) return
    exiting = true
    const timer = setTimeout(() => process.exit(code), 5_000)
    timer.unref()
    await onExit().catch(() => undefined)
    process.exit(code)
  }
  process.on('disconnect', () => void exit(0))
  process.on('message', (message: Request) => {
    if (message.op === 'exit') {
      send({ id: message.id, ok: true, result: null })
      void exit(0)
      return
    }
    const handler = handlers[message.op]
    if (!handler) {
      send({ id: message.id, ok: false, error: `unknown op ${message.op}` })
      return
    }
    Promise.resolve()
      .then(() => handler(message.args as never))
      .then(
        (result) => send({ id: message.id, ok: true, result: result ?? null }),
        (error: unknown) => send({ id: message.id, ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
      )
  })
  send({ ready: true })
}
