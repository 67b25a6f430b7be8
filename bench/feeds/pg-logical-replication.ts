/**
 * pg-logical-replication with pgoutput, as its README shows, at its fastest setting: automatic acknowledgement
 * off and the last LSN acknowledged once a second (acknowledging each message halves its rate). With an async
 * effect per row, its flow control is on, so that rows are handled one at a time, in order.
 */
import { LogicalReplicationService, PgoutputPlugin, type Pgoutput } from 'pg-logical-replication'
import { FEED_PUBLICATION, type FeedFactory, type FeedRow } from './types.js'

const ACK_EVERY_MS = 1000

export const pgLogicalReplicationFeed: FeedFactory = ({ url, slot, onRow, sequential, onEvent }) => {
  const service = new LogicalReplicationService(
    { connectionString: url },
    { acknowledge: { auto: false, timeoutSeconds: 0 }, flowControl: { enabled: sequential } },
  )
  let closed = false
  /**
   * The LSN of the last message handled, or of the last keepalive while nothing is being handled: what a user
   * acknowledges (acknowledging `lastLsn()` would also cover rows received but not yet handled).
   */
  let handled: string | undefined
  let handling = 0
  service.on('data', (lsn: string, message: Pgoutput.Message) => {
    if (message.tag === 'insert') {
      const row = message.new as unknown as FeedRow
      const effect = onRow(row.id, Number(row.t), undefined)
      if (sequential) {
        handling += 1
        return Promise.resolve(effect).then(() => {
          handling -= 1
          handled = lsn
        })
      }
    }
    handled = lsn
    return undefined
  })
  service.on('heartbeat', (lsn: string) => {
    if (handling === 0) handled = lsn
  })
  service.on('error', (error: Error) => onEvent(`error ${error.message}`))
  const acknowledging = setInterval(() => {
    if (handled !== undefined) void service.acknowledge(handled)
  }, ACK_EVERY_MS)
  const plugin = new PgoutputPlugin({ protoVersion: 1, publicationNames: [FEED_PUBLICATION] })
  const ready = new Promise<void>((resolve) => service.once('start', () => resolve()))
  // A connection that breaks ends subscribe(): a user subscribes again, from the slot's position.
  const run = async () => {
    while (!closed) {
      await service.subscribe(plugin, slot).catch((error: unknown) => onEvent(`subscribe ended: ${String(error)}`))
      if (!closed) await new Promise((resolve) => setTimeout(resolve, 500))
    }
  }
  void run()
  return {
    ready,
    close: async () => {
      closed = true
      clearInterval(acknowledging)
      await service.destroy()
    },
  }
}
