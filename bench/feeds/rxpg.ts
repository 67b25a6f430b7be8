/**
 * rxpg's change stream, as docs/replication.md shows it: `changeStream(url, { slot, publication, tables })`,
 * each change acknowledged once handled (the slot is told at the next status update, about once a second).
 */
import { concatMap, filter, firstValueFrom } from 'rxjs'
import type * as Replication from '../../lib/replication/index.js'
import { FEED_PUBLICATION, FEED_TABLE, type FeedFactory, type FeedRow } from './types.js'

/** rxpg/replication as compiled by the harness (next to RXPG_LIB); the sources through tsx when it is not set. */
const { changeStream, isCheckpoint }: typeof Replication = await import(
  process.env.RXPG_LIB ? new URL('./replication/index.js', process.env.RXPG_LIB).href : '../../lib/replication/index.js'
)

export const rxpgFeed: FeedFactory = ({ url, slot, onRow, sequential, resumeAfter, onEvent }) => {
  const stream = changeStream(url, { slot, publication: FEED_PUBLICATION, tables: [FEED_TABLE], ...(resumeAfter === undefined ? {} : { resumeAfter }) })
  stream.state$.subscribe((state) => onEvent(`state ${state.status}${state.status === 'reconnecting' ? ` ${state.lastError.message}` : ''}`))
  if (sequential) {
    stream.changes$
      .pipe(
        concatMap(async (item) => {
          if (!isCheckpoint(item) && item.op === 'insert') {
            const row = item.new as unknown as FeedRow
            await onRow(row.id, Number(row.t), item.position)
          } else {
            await onRow(-1, 0, item.position)
          }
          stream.ack(item.position)
        }),
      )
      .subscribe({ error: (error: unknown) => onEvent(`error ${String(error)}`) })
  } else {
    stream.changes$.subscribe({
      next: (item) => {
        if (!isCheckpoint(item) && item.op === 'insert') {
          const row = item.new as unknown as FeedRow
          void onRow(row.id, Number(row.t), item.position)
        }
        stream.ack(item.position)
      },
      error: (error: unknown) => onEvent(`error ${String(error)}`),
    })
  }
  return {
    ready: firstValueFrom(stream.state$.pipe(filter((state) => state.status === 'connected'))).then(() => undefined),
    metrics: () => stream.metrics.snapshot(),
    close: () => stream.close(),
  }
}
