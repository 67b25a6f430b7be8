/**
 * How the commands that run until stopped (listen, tail, changes) end: when their stream ends or fails, or
 * on Ctrl-C (SIGINT) or SIGTERM, which stop them cleanly (they close their connections and exit with 0). A
 * second signal while they close exits at once: 130 for SIGINT, 143 for SIGTERM (128 + the signal's number,
 * as a shell reports a process the signal ended).
 */
import type { Unsubscribable } from 'rxjs'

const EXIT_ON_SECOND = { SIGINT: 130, SIGTERM: 143 } as const

export async function runUntilStopped(
  start: (ended: { complete: () => void; error: (error: unknown) => void }) => Unsubscribable,
  /** Closes what the command opened; a second signal meanwhile does not wait for it. */
  cleanup: () => Promise<void>,
): Promise<void> {
  let subscription: Unsubscribable | undefined
  let stopping = false
  let onSignal: (signal: NodeJS.Signals) => void = () => undefined
  try {
    await new Promise<void>((resolve, reject) => {
      onSignal = (signal) => {
        if (stopping) process.exit(EXIT_ON_SECOND[signal as keyof typeof EXIT_ON_SECOND] ?? 130)
        stopping = true
        resolve()
      }
      process.on('SIGINT', onSignal)
      process.on('SIGTERM', onSignal)
      subscription = start({ complete: resolve, error: reject })
    })
  } finally {
    // Stopping from here on: a signal now is the second one.
    stopping = true
    subscription?.unsubscribe()
    try {
      await cleanup()
    } finally {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    }
  }
}
