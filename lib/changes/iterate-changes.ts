/**
 * @internal A durable feed's changes pulled by `for await`, for the command line's `changes`, which waits while
 * stdout is full: `tableChanges` pushes, and what its subscriber cannot write at once would wait in memory.
 * The same changes as `tableChanges` without a codec (rows in their JSON form), in the same order.
 */
import { asyncScheduler } from 'rxjs'
import type { StartPosition } from '../durable/index.js'
import { changeDecoder } from './decode-change.js'
import { iterateDurableWires } from './durable-wires.js'
import type { InstalledFeed } from './inspect-feed.js'
import { wireReader } from './read-wire.js'
import type { ChangeSource, JsonRow, TableChange } from './types.js'

/** Ends when `signal` aborts (a pending `next()` rejects with its reason). `installed` must be a durable feed. */
export async function* iterateDurableChanges(source: ChangeSource, installed: InstalledFeed, from: StartPosition, signal: AbortSignal): AsyncGenerator<TableChange<JsonRow>> {
  const read = wireReader(source.pool, installed, source.scheduler ?? asyncScheduler)
  const decode = changeDecoder<JsonRow>(undefined, { schema: installed.feed.schema, table: installed.feed.table, channel: installed.names.channel })
  for await (const wire of iterateDurableWires(source, installed, from, signal)) yield await decode(await read(wire))
}
