/** How long to wait between connection attempts. All times in ms. */
export interface BackoffOptions {
  /** Delay before the first retry. Default 100. */
  readonly initialDelay?: number | undefined
  /** Upper bound of any delay. Default 2000, so a recovered server is reached within about 2 s. */
  readonly maxDelay?: number | undefined
  /** Growth per attempt. Default 2. */
  readonly factor?: number | undefined
  /**
   * Share of each delay that is random, 0 to 1. Default 0.5: a delay is between half and all of its nominal
   * value, so many processes restarting together do not reconnect in lockstep.
   */
  readonly jitter?: number | undefined
  /** Source of randomness in [0, 1). Default Math.random; tests pass a fixed one. */
  readonly random?: (() => number) | undefined
}

export const defaultBackoff = { initialDelay: 100, maxDelay: 2000, factor: 2, jitter: 0.5 } as const

/** The delay before retry number `attempt` (1-based): capped exponential growth with jitter. */
export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  const initialDelay = options.initialDelay ?? defaultBackoff.initialDelay
  const maxDelay = options.maxDelay ?? defaultBackoff.maxDelay
  const factor = options.factor ?? defaultBackoff.factor
  const jitter = options.jitter ?? defaultBackoff.jitter
  const random = options.random ?? Math.random
  const nominal = Math.min(maxDelay, initialDelay * factor ** Math.max(0, attempt - 1))
  return Math.round(nominal * (1 - jitter * random()))
}
