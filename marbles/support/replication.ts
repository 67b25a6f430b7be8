import type { TestScheduler } from 'rxjs/testing'
import { ConnectionLostError } from '../../lib/index.js'
import { changeStream, transactionStream, type ChangeStream, type ChangeStreamOptions, type ReplicationState, type TransactionStream } from '../../lib/replication/index.js'
import type { ReplicationFailure } from '../../lib/replication/types.js'
import type { VirtualReplicationSource } from '../../lib/replication/virtual-replication-source.js'

/**
 * Options every diagram shares: no jitter, no health check unless asked, status updates every 10 ms. A
 * streaming connection reports on a timer for ever, so virtual time stops at `frames` (default 1000).
 */
type DiagramOptions = Partial<Omit<ChangeStreamOptions, 'source' | 'scheduler'>> & { readonly tables?: readonly string[]; readonly frames?: number }

function defaults(source: VirtualReplicationSource, scheduler: TestScheduler, { frames, ...options }: DiagramOptions): ChangeStreamOptions & { readonly tables?: readonly string[] } {
  scheduler.maxFrames = frames ?? 1000
  return {
    slot: 'orders_feed',
    publication: 'orders_pub',
    statusInterval: 10,
    healthCheck: false,
    checkpoints: false,
    ...options,
    reconnect: { random: () => 0, ...options.reconnect },
    source,
    scheduler,
  }
}

/** The real `changeStream` on a drawn server, in virtual time. */
export function virtualChangeStream(source: VirtualReplicationSource, scheduler: TestScheduler, options: DiagramOptions = {}): ChangeStream<unknown> {
  return changeStream('postgres://app@virtual:5432/app', defaults(source, scheduler, options)) as ChangeStream<unknown>
}

export function virtualTransactionStream(source: VirtualReplicationSource, scheduler: TestScheduler, options: DiagramOptions = {}): TransactionStream<unknown> {
  return transactionStream('postgres://app@virtual:5432/app', defaults(source, scheduler, options)) as TransactionStream<unknown>
}

/** What a driver throws when nothing listens on the server's port, and what the stream makes of it. */
export function refusedByNetwork(): Error {
  return Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })
}
export const networkRefusal = new ConnectionLostError({ systemCode: 'ECONNREFUSED', detail: 'connect ECONNREFUSED 127.0.0.1:5432' })
export function resetByPeer(): Error {
  return Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })
}
export const lostByReset = new ConnectionLostError({ systemCode: 'ECONNRESET', detail: 'read ECONNRESET' })

// State builders, so diagrams' value tables read like the states they are.
export const idle: ReplicationState = { status: 'idle' }
export const connecting = (attempt: number): ReplicationState => ({ status: 'connecting', attempt })
export const connected = (processId: number, startLsn: string): ReplicationState => ({ status: 'connected', processId, startLsn })
export const reconnecting = (attempt: number, delay: number, lastError: Extract<ReplicationState, { status: 'reconnecting' }>['lastError'] = networkRefusal): ReplicationState => ({
  status: 'reconnecting',
  attempt,
  delay,
  lastError,
})
export const failed = (error: ReplicationFailure): ReplicationState => ({ status: 'failed', error })
export const closed: ReplicationState = { status: 'closed' }
