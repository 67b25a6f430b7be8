import { Subject, type Observable } from 'rxjs'
import type { RxpgError } from '../../lib/index.js'
import { NotifyBatcher, type NotifyOptions } from '../../lib/notify/notify-batcher.js'
import { classifyConnectionError } from '../../lib/pg/classify-error.js'
import { driverFacts } from '../../lib/pg/driver-error.js'
import { secretsOf } from '../../lib/pg/secrets.js'
import type { NotifyTransport } from '../../lib/ports/notify-transport.js'
import type { MarbleHelpers } from '../../lib/testing/index.js'

/**
 * The sink on `transport`; `listening` says whether sends may go (false: the listener is reconnecting);
 * `connectTimeout` is the listener's.
 */
export function sink(transport: NotifyTransport, scheduler: MarbleHelpers['scheduler'], listening = () => true, options: NotifyOptions = {}, connectTimeout = 30) {
  const secrets = secretsOf('postgres://app@virtual:5432/app')
  const failures = new Subject<RxpgError>()
  const batcher = new NotifyBatcher(
    {
      transport,
      scheduler,
      backoff: { random: () => 0 },
      connectTimeout,
      classify: (error) => classifyConnectionError(error, secrets),
      describe: (error) => ({ facts: driverFacts(error, secrets.redact), cause: error }),
      whenListening: () => !listening(),
      // Every channel drawn here has a subscriber in this process.
      awaitsListen: () => !listening(),
      report: (error) => failures.next(error),
    },
    options,
  )
  return { batcher, failures: failures as Observable<RxpgError> }
}

