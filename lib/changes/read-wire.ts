/**
 * @internal From a carrier's JSON text to a change in its JSON form: rows and keys read with the table's column
 * types (read again when a column appears that they do not know, added or renamed since, or a value does not
 * fit its column's type, changed since), and, for a light
 * change too large for a notification, the row read from the table by its key.
 */
import type pg from 'pg'
import { lastValueFrom, timer, type SchedulerLike } from 'rxjs'
import { quoteIdentifier } from '../index.js'
import { isTransient } from '../durable/pg-failure.js'
import { catalogQuery, columnForms } from './catalog.js'
import { ChangesQueryFailedError } from './errors.js'
import type { InstalledFeed } from './inspect-feed.js'
import { parseChangeJson, parseRowJson, type ColumnForm } from './json-form.js'
import { rowJson } from './row-json.js'
import type { ChangeOp, JsonRow, TableChange } from './types.js'
import type { WireChange } from './wire.js'

/** A change in its JSON form, before its rows are decoded. */
export interface RawChange extends Pick<TableChange<never>, 'op' | 'key' | 'previousKey' | 'token' | 'statementTime' | 'overflow'> {
  readonly new?: JsonRow | undefined
  readonly old?: JsonRow | undefined
}

/** What a trigger writes, as parsed. */
interface ChangeJson {
  readonly op: ChangeOp
  readonly key?: JsonRow | undefined
  readonly previousKey?: JsonRow | undefined
  readonly new?: JsonRow | undefined
  readonly old?: JsonRow | undefined
  /** Light: `statement_timestamp()`. */
  readonly at?: string | undefined
  /** Light: true when only the key was sent, 'no-key' when not even that. */
  readonly overflow?: true | 'no-key' | undefined
}

function sameForms(a: ReadonlyMap<string, ColumnForm>, b: ReadonlyMap<string, ColumnForm>): boolean {
  return a.size === b.size && [...a].every(([name, form]) => b.get(name) === form)
}

/** Failed reads of a light change's row that are retried (a broken connection), and the pause before each retry. */
const FETCH_RETRY_DELAYS_MS = [100, 400, 1600]

/** A reader of one feed's wire changes; it keeps the table's column forms between changes. */
export function wireReader(pool: pg.Pool, installed: InstalledFeed, scheduler: SchedulerLike): (wire: WireChange) => Promise<RawChange> {
  const { feed, table } = installed
  let forms = new Map<string, ColumnForm>(installed.forms)
  /**
   * Names still unknown, or values still not fitting, after the forms were read again (a column dropped or
   * changed since old changes were written): read as they are (never losing a digit), without reading the forms
   * for them again until the forms change.
   */
  const settled = new Set<string>()
  const key = feed.key ?? []
  const fetchRow = `SELECT (${rowJson(feed, 't')})::text AS row FROM ${table} t
WHERE (${key.map((c) => `t.${quoteIdentifier(c)}`).join(', ')}) = (SELECT ${key.map((c) => `k.${quoteIdentifier(c)}`).join(', ')} FROM json_populate_record(NULL::${table}, $1::json) k)`

  const parse = (wire: WireChange) => {
    const change = parseChangeJson(wire.text, forms)
    const keyOfWire = wire.keyText === undefined ? undefined : parseRowJson(wire.keyText, forms)
    const unfit = [...change.unknownColumns, ...change.staleColumns, ...(keyOfWire?.unknownColumns ?? []), ...(keyOfWire?.staleColumns ?? [])]
    return { change: change.value as ChangeJson, key: keyOfWire?.value as JsonRow | undefined, unfit: unfit.filter((name) => !settled.has(name)) }
  }

  const fetch = async (changeKey: JsonRow): Promise<JsonRow | undefined> => {
    for (let attempt = 0; ; attempt++) {
      try {
        const [row] = await catalogQuery<{ row: string }>(pool, 'read of a row too large for a notification', fetchRow, [JSON.stringify(changeKey)])
        return row === undefined ? undefined : (parseRowJson(row.row, forms).value as JsonRow)
      } catch (error) {
        const delay = FETCH_RETRY_DELAYS_MS[attempt]
        if (!(error instanceof ChangesQueryFailedError) || !isTransient(error.info) || delay === undefined) throw error
        await lastValueFrom(timer(delay, scheduler))
      }
    }
  }

  return async (wire) => {
    let parsed = parse(wire)
    if (parsed.unfit.length > 0) {
      const read = await columnForms(pool, table)
      if (!sameForms(read, forms)) settled.clear()
      forms = read
      parsed = parse(wire)
      for (const name of parsed.unfit) settled.add(name)
    }
    const { change } = parsed
    const base = {
      op: change.op,
      key: parsed.key ?? change.key ?? {},
      statementTime: wire.statementTime ?? new Date(change.at ?? Number.NaN),
      ...(wire.token === undefined ? {} : { token: wire.token }),
    }
    if (change.overflow === 'no-key') return { ...base, overflow: 'no-key' }
    if (change.overflow === true) {
      // A deleted row cannot be read, and a row with its key now would be another one.
      const row = change.op === 'delete' ? undefined : await fetch(base.key)
      return row === undefined ? { ...base, overflow: 'gone' } : { ...base, new: row, overflow: 'fetched' }
    }
    return {
      ...base,
      ...(change.previousKey === undefined ? {} : { previousKey: change.previousKey }),
      ...(change.new === undefined ? {} : { new: change.new }),
      ...(change.old === undefined ? {} : { old: change.old }),
    }
  }
}
