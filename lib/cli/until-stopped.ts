/**
 * How the commands that run until stopped (listen, tail, changes) end: when their stream ends or fails, or
 * on Ctrl-C (SIGINT) or SIGTERM, which stop them cleanly (they close their connections and exit with 0). A
 * second Ctrl-C exits at once, with 130.
 */
import type { Unsubscribable } from 'rxjs'

export async function runUntilStopped(start: (ended: { complete: () => void; error: (error: unknown) => void }) => Unsubscribable): Promise<void> {
  let subscription: Unsubscribable | undefined
  let stopping = false
  let onSignal: (signal: NodeJS.Signals) => void = () => undefined
  try {
    await new Promise<void>((resolve, reject) => {
      onSignal = (signal) => {
        if (stopping && signal === 'SIGINT') process.exit(130)
        stopping = true
        resolve()
      }
      process.on('SIGINT', onSignal)
      process.on('SIGTERM', onSignal)
      subscription = start({ complete: resolve, error: reject })
    })
  } finally {
    subscription?.unsubscribe()
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}
