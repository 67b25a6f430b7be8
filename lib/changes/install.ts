/**
 * Development helpers: a feed's SQL with its key read from the database, and applying it. In production the
 * same SQL goes through your migrations (`npx rxpg sql changes …`): nothing is installed behind your back.
 */
import type pg from 'pg'
import { RxpgError } from '../index.js'
import { checkOut } from '../pg/check-out.js'
import { tableFacts } from './catalog.js'
import { ChangeFeedNotInstalledError, ChangesQueryFailedError, ChangesUnsupportedServerError, NoPrimaryKeyError } from './errors.js'
import { changeFeedSql, type ChangeFeedSql } from './feed-sql.js'
import { namesOf, resolveFeed } from './feed.js'
import { installCommandOf } from './install-command.js'
import { MINIMUM_SERVER_VERSION } from './inspect-feed.js'
import { failureInfo } from '../durable/pg-failure.js'
import { qualifiedName } from './sql-text.js'
import type { ChangeFeedSpec } from './types.js'

/**
 * `changeFeedSql`, with the key read from the table's primary key when the spec does not name it.
 *
 * @throws NoPrimaryKeyError when the table has none; ChangeFeedNotInstalledError (`no-table`) when it does not exist.
 */
export async function changeFeedSqlFor(db: pg.Pool | pg.ClientBase, spec: ChangeFeedSpec): Promise<ChangeFeedSql> {
  const feed = resolveFeed(spec)
  if (feed.key !== undefined) return changeFeedSql(spec)
  const table = qualifiedName(feed.schema, feed.table)
  const facts = await tableFacts(db, table, feed.feedSchema, namesOf(feed).functionName)
  if (facts.serverVersionNum < MINIMUM_SERVER_VERSION) {
    throw new ChangesUnsupportedServerError({ feature: 'Change feeds', serverVersionNum: facts.serverVersionNum, minimumVersionNum: MINIMUM_SERVER_VERSION })
  }
  if (!facts.tableExists) {
    throw new ChangeFeedNotInstalledError({ table, feed: feed.name, reason: 'no-table', command: installCommandOf(feed), detail: `to_regclass('${table}') is null` })
  }
  if (facts.primaryKey === null) throw new NoPrimaryKeyError({ table })
  return changeFeedSql({ ...spec, key: facts.primaryKey })
}

/**
 * Development: installs (or updates) a feed now, in one transaction, one process at a time. The SQL is the
 * same as `npx rxpg sql changes` prints; a durable feed needs the durable log installed first
 * (`log.ensureSchema()`).
 */
export async function installChangeFeed(pool: pg.Pool, spec: ChangeFeedSpec): Promise<void> {
  const { client, release } = await checkOut(pool)
  try {
    await client.query('BEGIN')
    // Two processes installing at once would race on DROP/CREATE TRIGGER: one at a time.
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('rxpg.changes.install'))`)
    const sql = await changeFeedSqlFor(client, spec)
    await client.query(sql.install)
    await client.query('COMMIT')
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined)
    if (error instanceof RxpgError) throw error
    throw new ChangesQueryFailedError({ operation: 'install', ...failureInfo(error) }, { cause: error })
  } finally {
    release()
  }
}
