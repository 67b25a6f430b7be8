/**
 * A trigger that NOTIFYs each inserted row as JSON (`pg_notify('bench_feed', row_to_json(NEW)::text)`, installed by
 * the harness), received by an rxpg listener: the classic way to watch a table, and the one whose commits
 * serialize on NOTIFY's lock.
 */
import { concatMap, filter, firstValueFrom, map } from 'rxjs'
import type * as Rxpg from '../../lib/index.js'
import { FEED_CHANNEL, type FeedFactory, type FeedRow } from './types.js'

const { createPgListener }: typeof Rxpg = await import(process.env.RXPG_LIB ?? '../../lib/index.js')

export const notifyFeed: FeedFactory = ({ url, onRow, sequential, onEvent }) => {
  const db = createPgListener(url)
  db.state$.subscribe((state) => onEvent(`state ${state.status}`))
  const rows = db.channel(FEED_CHANNEL).pipe(map((notification) => JSON.parse(notification.payload) as FeedRow))
  if (sequential) rows.pipe(concatMap((row) => Promise.resolve(onRow(row.id, Number(row.t), undefined)))).subscribe()
  else rows.subscribe((row) => void onRow(row.id, Number(row.t), undefined))
  return {
    ready: firstValueFrom(db.listening(FEED_CHANNEL).pipe(filter(Boolean))).then(() => undefined),
    close: () => db.close(),
  }
}
