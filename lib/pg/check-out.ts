import type pg from 'pg'

/** A client checked out of a pool by rxpg, with its connection's failure kept until it goes back. */
export interface CheckedOutClient {
  readonly client: pg.PoolClient
  /**
   * Gives the client back: with `error` (or the error its connection failed with meanwhile) the pool destroys it
   * instead of handing it out again. A second call does nothing.
   */
  release(error?: Error): void
  /**
   * The error the connection failed with while out, if it did: the cause of every later query failure on it,
   * which pg reports only as "Client has encountered a connection error and is not queryable" (a server that
   * ended the session, with its SQLSTATE such as 25P03, says why here).
   */
  connectionError(): Error | undefined
}

/**
 * Checks a client out of `pool` with an 'error' listener of its own for as long as it is out. pg.Pool listens
 * for errors only on idle clients, and a pg.Client whose connection ends unexpectedly (a backend terminated, a
 * server restart) emits 'error' even while one of its queries runs: with nobody listening that is an uncaught
 * exception, and the process ends. The queries on the client fail anyway; the error is kept so that the client
 * goes back to the pool as broken.
 */
export function checkOut(pool: pg.Pool): Promise<CheckedOutClient> {
  // pg-pool's callback, not its promise: the callback runs as the pool hands the client over, which may be while
  // pg parses the read that completed the connection, and the rest of that read may be an error (a server
  // shutting down sends its FATAL right behind ReadyForQuery). Listening only after `await`, that error found no
  // listener: an uncaught exception.
  return new Promise((resolve, reject) => {
    pool.connect((connectError, client) => {
      if (connectError) return reject(connectError)
      if (client === undefined) return reject(new Error('rxpg: the pool handed over no client'))
      let failed: Error | undefined
      const onError = (error: Error) => {
        failed ??= error
      }
      client.on('error', onError)
      let released = false
      resolve({
        client,
        release: (error) => {
          if (released) return
          released = true
          client.removeListener('error', onError)
          client.release(error ?? failed)
        },
        connectionError: () => failed,
      })
    })
  })
}

/**
 * Why a query on a checked-out client failed: its own error when it carries a code (the server's SQLSTATE, or a
 * system error), else the error the connection failed with meanwhile, if any (pg's "not queryable" says only
 * that the client broke).
 */
export function failureCause(error: unknown, connectionError: Error | undefined): unknown {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' || connectionError === undefined ? error : connectionError
}
