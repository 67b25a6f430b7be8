import { Observable, Subject, concat, defer, ignoreElements, of, tap } from 'rxjs'
import { DISPATCHED, type NotifyTransport, type OutgoingNotification } from '../ports/notify-transport.js'

/** The backend process id of a virtual transport's sending connection, unless its options say otherwise. */
export const VIRTUAL_SENDER_PROCESS_ID = 900

/** A `NotifyTransport` drawn in a marble diagram, which records every batch it is asked to send. */
export interface VirtualTransport extends NotifyTransport {
  /** One value per `send` (retries included), in the frame it was made. Hot: subscribe before the first send. */
  readonly batches$: Observable<readonly OutgoingNotification[]>
  /** One value per batch committed, in the frame it committed. Hot. */
  readonly committed$: Observable<readonly OutgoingNotification[]>
}

export interface VirtualTransportOptions {
  /**
   * How the n-th send (from 1) ends, drawn after the batch is handed to the connection: completing is the
   * commit (`cold('--|')` commits after two frames), an error is the failure (`cold('-#', undefined, new
   * SendFailure('unavailable', cause))`: nothing was sent, the sink retries it), never ending is a connection
   * that stopped answering (`NEVER`: `notify.sendTimeout` then abandons it). Default: committed in the same frame.
   */
  readonly answer?: ((batch: readonly OutgoingNotification[], call: number) => Observable<unknown>) | undefined
  /** The sending connection's backend process id(s), as `isOwnNotification` sees them. Default `[VIRTUAL_SENDER_PROCESS_ID]`. */
  readonly processIds?: readonly number[] | undefined
}

/**
 * The send port for marble tests: give it to `createPgListener` as `transport` (with the run's `scheduler`),
 * draw how sends end, and check `batches$`. `virtualSource(...).transport` is one of these that also delivers
 * what it commits to the virtual connections listening to its channel.
 */
export function virtualTransport(options: VirtualTransportOptions = {}): VirtualTransport {
  const batches$ = new Subject<readonly OutgoingNotification[]>()
  const committed$ = new Subject<readonly OutgoingNotification[]>()
  const answer = options.answer ?? (() => of(true))
  let calls = 0
  return {
    batches$: batches$.asObservable(),
    committed$: committed$.asObservable(),
    processIds: new Set(options.processIds ?? [VIRTUAL_SENDER_PROCESS_ID]),
    send: (batch) =>
      defer(() => {
        calls += 1
        const copy = batch.map(({ channel, payload }) => ({ channel, payload }))
        batches$.next(copy)
        return concat(
          of<typeof DISPATCHED>(DISPATCHED),
          answer(copy, calls).pipe(
            ignoreElements(),
            tap({ complete: () => committed$.next(copy) }),
          ),
        )
      }),
    end: () => Promise.resolve(),
  }
}
