import { filter, firstValueFrom, type Observable } from 'rxjs'
import type { ListenerState, PgListener, PgNotification } from '../../lib/index.js'

/** Resolves with the first state of the given status. */
export function stateOf<S extends ListenerState['status']>(
  listener: Pick<PgListener, 'state$'>,
  status: S,
): Promise<Extract<ListenerState, { status: S }>> {
  return firstValueFrom(listener.state$.pipe(filter((state): state is Extract<ListenerState, { status: S }> => state.status === status)))
}

/** Collects everything an Observable emits until `stop()` is called. */
export function collect<T>(source: Observable<T>): { readonly values: T[]; readonly errors: unknown[]; completed: boolean; stop(): void } {
  const result = { values: [] as T[], errors: [] as unknown[], completed: false, stop: () => subscription.unsubscribe() }
  const subscription = source.subscribe({
    next: (value) => void result.values.push(value),
    error: (error: unknown) => void result.errors.push(error),
    complete: () => void (result.completed = true),
  })
  return result
}

export const payloads = (notifications: readonly PgNotification[]): string[] => notifications.map((n) => n.payload)
