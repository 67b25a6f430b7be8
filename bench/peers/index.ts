import { pgBatchSender, pgReceiver, pgReconnectingReceiver, pgSender } from './pg.js'
import { pgListenNoTimeoutReceiver, pgListenReceiver, pgListenSender } from './pg-listen.js'
import { postgresReceiver, postgresSender } from './postgres.js'
import { rxpgEachReceiver, rxpgPromiseSender, rxpgReceiver, rxpgSubjectSender } from './rxpg.js'
import type { ReceiverFactory, SenderFactory } from './types.js'

export const receivers: Record<string, ReceiverFactory> = {
  pg: pgReceiver,
  'pg-reconnect': pgReconnectingReceiver,
  'pg-listen': pgListenReceiver,
  'pg-listen-no-timeout': pgListenNoTimeoutReceiver,
  postgres: postgresReceiver,
  rxpg: rxpgReceiver,
  'rxpg-each': rxpgEachReceiver,
}

export const SENDER_PEERS = ['pg', 'pg-batch', 'pg-listen', 'postgres', 'rxpg-notify$', 'rxpg-notify()'] as const
export type SenderPeer = (typeof SENDER_PEERS)[number]

export const senders: Record<SenderPeer, SenderFactory> = {
  pg: pgSender,
  'pg-batch': pgBatchSender,
  'pg-listen': pgListenSender,
  postgres: postgresSender,
  'rxpg-notify$': rxpgSubjectSender,
  'rxpg-notify()': rxpgPromiseSender,
}

export const SENDER_LABELS: Record<SenderPeer, string> = {
  pg: 'pg (one pg_notify query each)',
  'pg-batch': 'pg, hand-written unnest batches of 1000 (reference)',
  'pg-listen': 'pg-listen notify()',
  postgres: 'postgres.js sql.notify()',
  'rxpg-notify$': 'rxpg notify$.next()',
  'rxpg-notify()': 'rxpg notify() awaited in bulk',
}
