import { Observable, Subject, defer, of } from 'rxjs'
import type { NotifyTransport, OutgoingNotification } from '../notify/notify-transport.js'

/** A `NotifyTransport` that records every batch it is asked to send, and answers as drawn. */
export interface RecordingTransport extends NotifyTransport {
  /** One value per `send` call (retries included), in the frame it was made. Hot. */
  readonly batches$: Observable<readonly OutgoingNotification[]>
}

/**
 * The send port for lifecycle marbles. `answer(batch, call)` draws how the n-th send (from 1) ends: complete
 * (committed), or error with a `SendFailure` (`unavailable` is retried by the batcher). Default: committed in
 * the same frame.
 *
 * @internal Not part of `rxpg/testing`: `createPgListener` takes a transport only through an internal option.
 */
export function recordingTransport(
  answer: (batch: readonly OutgoingNotification[], call: number) => Observable<unknown> = () => of(true),
  processIds: readonly number[] = [900],
): RecordingTransport {
  const batches$ = new Subject<readonly OutgoingNotification[]>()
  let calls = 0
  return {
    batches$: batches$.asObservable(),
    processIds: new Set(processIds),
    send: (batch) =>
      defer(() => {
        calls += 1
        const copy = batch.map(({ channel, payload }) => ({ channel, payload }))
        batches$.next(copy)
        return answer(copy, calls)
      }),
    end: () => Promise.resolve(),
  }
}
