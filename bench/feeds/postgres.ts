/**
 * postgres.js `subscribe`, as its README shows: `postgres(url, { publications })` and
 * `sql.subscribe('insert:public.bench_feed', fn)`. It creates a temporary slot of its own, so it has no
 * position to resume from. With an async effect per row, rows are chained so that they are handled in order.
 */
import postgres from 'postgres'
import { FEED_TABLE, FEED_PUBLICATION, type FeedFactory, type FeedRow } from './types.js'

export const postgresFeed: FeedFactory = ({ url, onRow, sequential, onEvent }) => {
  const sql = postgres(url, { publications: FEED_PUBLICATION, onnotice: () => undefined })
  let chain: Promise<void> = Promise.resolve()
  const ready = sql
    .subscribe(
      `insert:public.${FEED_TABLE}`,
      (row) => {
        const { id, t } = row as unknown as FeedRow
        if (!sequential) return void onRow(id, Number(t), undefined)
        chain = chain.then(() => onRow(id, Number(t), undefined))
      },
      () => onEvent('subscribed'),
      () => onEvent('error'),
    )
    .then(() => undefined)
  return { ready, close: () => sql.end({ timeout: 1 }).catch(() => undefined) }
}
