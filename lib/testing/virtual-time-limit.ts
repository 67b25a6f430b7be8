import { RxpgError } from '../errors.js'

/** The virtual time `runMarbles` runs to by default: one hour, far past any timer a test draws on purpose. */
export const DEFAULT_MAX_VIRTUAL_TIME = 3_600_000

/**
 * A `runMarbles` run reached `maxVirtualTime` with timers still scheduled, so it would never have ended: a
 * listener on the run's scheduler keeps timers while it runs (its health check, retries while refused) and
 * was not closed. Close it at a frame (`scheduler.schedule(() => void db.close(), 40)`), or give the run more
 * virtual time when a timer that far is meant. An expectation that failed on the way is the `cause`.
 */
export class VirtualTimeLimitError extends RxpgError {
  override readonly name = 'VirtualTimeLimitError'
  readonly code = 'TESTING_VIRTUAL_TIME_LIMIT'
  constructor(
    readonly info: {
      /** The limit the run stopped at, in virtual milliseconds (frames). */
      readonly maxVirtualTime: number
      /** How many timers were still scheduled past it. */
      readonly pendingTimers: number
      /** When the first of them was due. */
      readonly nextTimerAt: number
    },
    options?: { readonly cause?: unknown },
  ) {
    super(
      `Virtual time reached ${info.maxVirtualTime} ms with ${info.pendingTimers} timers still scheduled (the next at ` +
        `${info.nextTimerAt} ms), so this run would never end. A listener on the run's scheduler keeps timers while ` +
        'it runs (health checks, retries): close it at a frame, e.g. scheduler.schedule(() => void db.close(), 40). ' +
        'If a timer that far is meant, give runMarbles(callback, { maxVirtualTime }) more.',
      options,
    )
  }
}
