/**
 * @internal While a feed is read: does it still carry the table's changes on the channel the reader reads? The
 * reader checked the feed once, at its start; afterwards a migration can drop the feed (its drop SQL), drop the
 * table, or apply the feed's SQL again with the other carrier, and the reader would wait for changes that no
 * longer come, without an error. A rename or a move of the table keeps the feed and its channel: not a reason.
 */
import { exhaustMap, from, ignoreElements, interval, type Observable, type SchedulerLike } from 'rxjs'
import type pg from 'pg'
import { tableFacts, type TableFacts } from './catalog.js'
import { ChangeFeedNotInstalledError, ChangesQueryFailedError } from './errors.js'
import type { Feed } from './feed.js'
import { feedOfComment, type InstalledFeed } from './inspect-feed.js'
import { installCommandOf } from './install-command.js'
import { qualifiedName } from './sql-text.js'

/**
 * Checks the feed every `period` ms; errors with `ChangeFeedNotInstalledError` once it no longer carries the
 * table's changes as it did when the reader started. Never emits. A check that fails (no connection, a pool
 * that is busy) is skipped: the next one asks again.
 */
export function watchFeed(pool: pg.Pool, installed: InstalledFeed, period: number, scheduler: SchedulerLike): Observable<never> {
  return interval(period, scheduler).pipe(
    exhaustMap(() =>
      from(
        tableFacts(pool, installed.table, installed.feed.feedSchema, installed.names.functionName).then(
          (facts) => {
            const stopped = stoppedCarrying(facts, installed)
            if (stopped !== undefined) throw stopped
          },
          (error: unknown) => {
            if (!(error instanceof ChangesQueryFailedError)) throw error
          },
        ),
      ),
    ),
    ignoreElements(),
  )
}

/** Why the feed no longer carries the changes the reader reads; undefined while it does. */
export function stoppedCarrying(facts: TableFacts, installed: InstalledFeed): ChangeFeedNotInstalledError | undefined {
  const { feed } = installed
  const fn = `${qualifiedName(feed.feedSchema, installed.names.functionName)}()`
  const restart = 'restart the reader once the feed is installed again'
  // The command prints the SQL of the feed as the reader knew it, or (a carrier switched) as it is now: applying
  // the reader's would undo the migration.
  const stopped = (reason: 'missing' | 'no-table' | 'different', detail: string, differences?: string[], now: Feed = feed) =>
    new ChangeFeedNotInstalledError({ table: installed.table, feed: feed.name, reason, command: installCommandOf(now), detail, ...(differences ? { differences } : {}) })
  if (facts.functionComment === undefined) return stopped('missing', `its function ${fn} was dropped while this reader read it: ${restart}`)
  if (facts.functionTables.length === 0) {
    return facts.tableExists
      ? stopped('missing', `no trigger calls its function ${fn} any more, since this reader started: ${restart}`)
      : stopped('no-table', `dropped while this reader read it; its feed's function ${fn} is left, with no trigger (the --drop variant of the feed's SQL removes it): ${restart}`)
  }
  const now = feedOfComment(facts.functionComment)
  if (now !== undefined && now.carrier !== feed.carrier) {
    return stopped('different', `carrier is ${JSON.stringify(now.carrier)} since this reader started it as ${JSON.stringify(feed.carrier)}: its changes go on another channel; restart the reader`, ['carrier'], now)
  }
  return undefined
}
