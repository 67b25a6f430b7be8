/**
 * `rxpg changes <table>`: prints a table's changes as its installed feed captures them, until Ctrl-C. One line
 * each: the op, a tab, the key's JSON, a tab, the row's JSON (the new row, or the old one of a delete); with
 * --json one JSON object per line, with both rows, the token (durable feeds) and the statement time.
 */
import type { Command } from 'commander'
import pg from 'pg'
import { createPgListener } from '../../index.js'
import { tableChanges, type JsonRow, type TableChange } from '../../changes/index.js'
import { inspectFeed, type InstalledFeed } from '../../changes/inspect-feed.js'
import { iterateDurableChanges } from '../../changes/iterate-changes.js'
import { parseToken } from '../../durable/position.js'
import { databaseUrlOf, withDatabaseOption, type DatabaseOptions } from '../database-option.js'
import { reportListener } from '../listener-report.js'
import { withBoundedClient } from '../bounded-client.js'
import type { CliOutput } from '../program.js'
import { withTimeoutOption, type TimeoutOptions } from '../timeout-option.js'
import { runUntilStopped } from '../until-stopped.js'
import { namedFor } from '../../pg/config.js'

interface ChangesOptions extends DatabaseOptions, TimeoutOptions {
  readonly name?: string | undefined
  readonly from?: string | undefined
  readonly json?: boolean | undefined
}

export function registerChangesCommand(program: Command, output: CliOutput): void {
  withDatabaseOption(
    withTimeoutOption(
      program
        .command('changes')
        .description("Print a table's changes as its installed feed captures them, until Ctrl-C (install it with `rxpg sql changes`).")
        .argument('<table>', 'the table: orders, public.orders, "Sales"."Orders"')
        .option('--name <feed>', "the feed's name, when it is not the table's")
        .option('--from <position>', "durable feeds: a resume token, 'earliest' or 'now' (default)")
        .option('--json', 'one JSON object per line: {"op","schema","table","key","previousKey","new","old","token","statementTime","overflow"}'),
      'checking the feed at the start: give up when the server has not answered within this long',
    ),
  ).action(async (table: string, options: ChangesOptions) => {
    // A malformed token is refused before connecting (whose issuer is checked once the feed is read).
    if (options.from !== undefined && options.from !== 'now' && options.from !== 'earliest') parseToken(options.from)
    const url = databaseUrlOf(options)
    const listener = createPgListener(url)
    // The reader's connections: one that does not open within --timeout fails, and the reader retries it (the
    // start check has a connection of its own, bounded the same way).
    const pool = new pg.Pool({ ...namedFor('cli'), connectionString: url, max: 2, connectionTimeoutMillis: options.timeout })
    pool.on('error', () => undefined)
    /** Writes the change's line; false when stdout is full (wait for it to drain before the next). */
    const print = (change: TableChange<JsonRow>): boolean | void => {
      const newRow = change.new?._tag === 'Right' ? change.new.right : undefined
      const oldRow = change.old?._tag === 'Right' ? change.old.right : undefined
      // A light change too large for a notification says so in a fourth column: its row was read afterwards, or is gone.
      if (!options.json) return output.out(`${change.op}\t${JSON.stringify(change.key)}\t${JSON.stringify(newRow ?? oldRow ?? null)}${change.overflow === undefined ? '' : `\t${change.overflow}`}\n`)
      // Every key on every line (null where it does not apply), so each line has the same shape.
      const line = {
        op: change.op,
        schema: change.schema,
        table: change.table,
        key: change.key,
        previousKey: change.previousKey ?? null,
        new: newRow ?? null,
        old: oldRow ?? null,
        token: change.token ?? null,
        statementTime: change.statementTime.toISOString(),
        overflow: change.overflow ?? null,
      }
      return output.out(`${JSON.stringify(line)}\n`)
    }
    const feed = { table, ...(options.name === undefined ? {} : { name: options.name }), ...(options.from === undefined ? {} : { from: options.from }) }
    const close = async () => {
      await listener.close()
      await pool.end()
    }
    let installed: InstalledFeed
    try {
      // A durable feed reads on from the log after a reconnection; only a light one can miss changes. (The same
      // check tableChanges starts with: a feed that is not installed, or a server out of reach, ends here.)
      installed = await withBoundedClient(url, options.timeout, 'to check the feed', (client) => inspectFeed(client, feed))
    } catch (error) {
      await close()
      throw error
    }
    const durable = installed.feed.carrier === 'durable'
    const report = reportListener(listener.state$, (line) => output.err(`rxpg: ${line}\n`), `reading the changes of ${table}`, durable ? 'read-on' : 'missed')
    // A light feed always starts now: --from now (the documented default) is taken as it is, rather than refused
    // as a position, which the library takes for durable feeds only.
    const { from, ...fromNow } = feed
    await runUntilStopped(
      ({ complete, error }) => {
        // Notifications come when they are sent, whoever reads them: a light feed is pushed.
        if (!durable) return tableChanges({ listener, pool }, from === 'now' ? fromNow : feed).subscribe({ next: print, error, complete })
        // A durable feed is pulled a change at a time, and no further while stdout is full: a reader slower than the
        // log (a pipe into a slow command) holds back the reading, not a backlog in memory.
        const stop = new AbortController()
        void (async () => {
          for await (const change of iterateDurableChanges({ listener, pool }, installed, from ?? 'now', stop.signal)) {
            if (print(change) === false) await output.drained?.()
          }
        })().then(complete, error)
        return { unsubscribe: () => stop.abort() }
      },
      async () => {
        report.unsubscribe()
        await close()
      },
    )
  })
}
