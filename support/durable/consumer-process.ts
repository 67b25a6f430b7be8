import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/** A consumer-group member running support/durable/consumer-fixture.ts in a `node` process of its own. */
export interface ConsumerProcess {
  readonly member: string
  readonly child: ChildProcess
  /** Every JSON line it printed so far. */
  readonly events: Array<{ member: string; event: string; [key: string]: unknown }>
  /** Resolves when it printed an event of this kind after now. */
  next(event: string): Promise<void>
  readonly exited: Promise<void>
}

export function spawnConsumer(args: { url: string; schema: string; channel: string; group: string; member: string; leaseTtl: number; handlerDelay?: number }): ConsumerProcess {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      fileURLToPath(new URL('consumer-fixture.ts', import.meta.url)),
      args.url,
      args.schema,
      args.channel,
      args.group,
      args.member,
      String(args.leaseTtl),
      String(args.handlerDelay ?? 0),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  const events: ConsumerProcess['events'] = []
  const waiters: Array<{ event: string; resolve: () => void }> = []
  let buffered = ''
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk
    const lines = buffered.split('\n')
    buffered = lines.pop() ?? ''
    for (const line of lines) {
      if (!line.startsWith('{')) continue
      const parsed = JSON.parse(line) as ConsumerProcess['events'][number]
      events.push(parsed)
      for (const waiter of waiters.filter((w) => w.event === parsed.event)) {
        waiters.splice(waiters.indexOf(waiter), 1)
        waiter.resolve()
      }
    }
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  return {
    member: args.member,
    child,
    events,
    next: (event) => new Promise<void>((resolve) => waiters.push({ event, resolve })),
    exited,
  }
}

/** Kills every process still running (SIGKILL), and waits for them to be gone. */
export async function killAll(processes: readonly ConsumerProcess[]): Promise<void> {
  for (const each of processes) if (each.child.exitCode === null && each.child.signalCode === null) each.child.kill('SIGKILL')
  await Promise.all(processes.map((each) => each.exited))
}
