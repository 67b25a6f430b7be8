/**
 * `rxpg changes <table>`: prints a table's changes as its installed feed captures them, until Ctrl-C. One line
 * each: the op, a tab, the key's JSON, a tab, the row's JSON (the new row, or the old one of a delete); with
 * --json one JSON object per line, with both rows, the token (durable feeds) and the statement time.
 */
import type { Command } from 'commander'
import pg from 'pg'
import { asyncScheduler, concatMap } from 'rxjs'
import { createPgListener } from '../../index.js'
import { InvalidChangeFeedError, type JsonRow, type TableChange } from '../../changes/index.js'
import { changeDecoder } from '../../changes/decode-change.js'
import { iterateDurableWires } from '../../changes/durable-wires.js'
import { inspectFeed, type InstalledFeed } from '../../changes/inspect-feed.js'
import { lightWires } from '../../changes/light-wires.js'
import { wireReader } from '../../changes/read-wire.js'
import { DEFAULT_RECHECK_INTERVAL } from '../../changes/table-changes.js'
import { watchFeed } from '../../changes/watch-feed.js'
import type { WireChange } from '../../changes/wire.js'
import { parseToken } from '../../durable/position.js'
import { databaseUrlOf, withDatabaseOption, type DatabaseOptions } from '../database-option.js'
import { reportListener } from '../listener-report.js'
import { withBoundedClient } from '../bounded-client.js'
import type { CliOutput } from '../program.js'
import { timeoutOption, withTimeoutOption, type TimeoutOptions } from '../timeout-option.js'
import { runUntilStopped } from '../until-stopped.js'
import { namedFor } from '../../pg/config.js'
import { jsonText, storedNumbers, type StoredJson } from '../stored-json.js'

interface ChangesOptions extends DatabaseOptions, TimeoutOptions {
  readonly name?: string | undefined
  readonly feedSchema?: string | undefined
  readonly from?: string | undefined
  readonly json?: boolean | undefined
  readonly recheckInterval: number
}

export function registerChangesCommand(program: Command, output: CliOutput): void {
  withDatabaseOption(
    withTimeoutOption(
      program
        .command('changes')
        .description("Print a table's changes as its installed feed captures them, until Ctrl-C (install it with `rxpg sql changes`).")
        .argument('<table>', 'the table: orders, public.orders, "Sales"."Orders"')
        .option('--name <feed>', "the feed's name, when it is not the table's")
        .option('--feed-schema <schema>', "the feed's schema, when it is not the table's (a table moved with SET SCHEMA)")
        .option('--from <position>', "durable feeds: a resume token, 'earliest' or 'now' (default)")
        .option('--json', 'one JSON object per line: {"op","schema","table","key","previousKey","new","old","token","statementTime","overflow"}')
        .option('--recheck-interval <ms>', 'how often to check the feed again while reading: exits with 1 once it was dropped, its table dropped or its carrier switched (ms)', timeoutOption, DEFAULT_RECHECK_INTERVAL),
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
    /**
     * Writes the change's line; false when stdout is full (wait for it to drain before the next). The numbers of
     * its rows are printed as the change's JSON text (`wire`) holds them where a double cannot (a jsonb 1e400,
     * which JSON.parse reads as Infinity and JSON.stringify prints as null).
     */
    const print = (change: TableChange<JsonRow>, wire: WireChange): boolean | void => {
      const newRow = change.new?._tag === 'Right' ? change.new.right : undefined
      const oldRow = change.old?._tag === 'Right' ? change.old.right : undefined
      const stored = storedNumbers(wire.text)
      const member = (name: string): StoredJson => (stored instanceof Map ? stored.get(name) : undefined)
      // A durable change's key is the log row's key; a light change carries it in its text. (A light change too large
      // for a notification carries no row: its row is read afterwards, and printed as read.)
      const numbers = new Map([
        ['key', wire.keyText === undefined ? member('key') : storedNumbers(wire.keyText)],
        ['previousKey', member('previousKey')],
        ['new', member('new')],
        ['old', member('old')],
      ])
      // A light change too large for a notification says so in a fourth column: its row was read afterwards, or is gone.
      if (!options.json) {
        const row = jsonText(newRow ?? oldRow ?? null, numbers.get(newRow === undefined ? 'old' : 'new'))
        return output.out(`${change.op}\t${jsonText(change.key, numbers.get('key'))}\t${row}${change.overflow === undefined ? '' : `\t${change.overflow}`}\n`)
      }
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
      return output.out(`${jsonText(line, numbers)}\n`)
    }
    const feed = {
      table,
      ...(options.name === undefined ? {} : { name: options.name }),
      ...(options.feedSchema === undefined ? {} : { feedSchema: options.feedSchema }),
      ...(options.from === undefined ? {} : { from: options.from }),
    }
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
    // A light feed always starts now: --from now (the documented default) is taken as it is, and a position is
    // refused as the library refuses it (durable feeds only).
    const from = options.from
    if (!durable && from !== undefined && from !== 'now') {
      await close()
      throw new InvalidChangeFeedError({ table, detail: '`from` applies to durable feeds only (a light feed delivers what is committed while it listens)' })
    }
    const report = reportListener(listener.state$, (line) => output.err(`rxpg: ${line}\n`), `reading the changes of ${table}`, durable ? 'read-on' : 'missed')
    // What tableChanges does, with each change's JSON text kept for its numbers: read into the JSON form with the
    // table's column types, rows given as they are (no codec).
    const source = { listener, pool }
    const read = wireReader(pool, installed, asyncScheduler)
    const decode = changeDecoder<JsonRow>(undefined, { schema: installed.feed.schema, table: installed.feed.table, channel: installed.names.channel })
    const changeOf = async (wire: WireChange) => ({ change: await decode(await read(wire)), wire })
    await runUntilStopped(
      ({ complete, error }) => {
        // As tableChanges does: a feed dropped, its table dropped or its carrier switched ends the command (exit 1).
        const watch = watchFeed(pool, installed, options.recheckInterval, asyncScheduler).subscribe({ error })
        const reading = readChanges({ complete, error })
        return {
          unsubscribe: () => {
            watch.unsubscribe()
            reading.unsubscribe()
          },
        }
      },
      async () => {
        report.unsubscribe()
        await close()
      },
    )

    function readChanges({ complete, error }: { complete: () => void; error: (error: unknown) => void }): { unsubscribe(): void } {
      // Notifications come when they are sent, whoever reads them: a light feed is pushed.
      if (!durable) return lightWires(source, installed).pipe(concatMap(changeOf)).subscribe({ next: ({ change, wire }) => print(change, wire), error, complete })
      // A durable feed is pulled a change at a time, and no further while stdout is full: a reader slower than the
      // log (a pipe into a slow command) holds back the reading, not a backlog in memory.
      const stop = new AbortController()
      void (async () => {
        for await (const wire of iterateDurableWires(source, installed, from ?? 'now', stop.signal)) {
          const { change } = await changeOf(wire)
          if (print(change, wire) === false) await output.drained?.()
        }
      })().then(complete, error)
      return { unsubscribe: () => stop.abort() }
    }
  })
}
