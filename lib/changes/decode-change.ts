/**
 * @internal Decodes a change's rows with the feed's codec, as `decode` decodes payloads: a row that does not
 * pass is a `Left` holding a `DecodeError`, never an error of the stream.
 */
import { DecodeError, type Decoder, type Either } from '../index.js'
import { isPromiseLike, runnerFor, type Attempt } from '../operators/decoder.js'
import type { RawChange } from './read-wire.js'
import type { JsonRow, TableChange } from './types.js'

type DecodedRow<T> = Either<DecodeError, T>

/** A function from a raw change to the decoded one, synchronous when the codec is. */
export function changeDecoder<T>(
  codec: Decoder<T> | undefined,
  where: { readonly schema: string; readonly table: string; readonly channel: string },
): (change: RawChange) => TableChange<T> | Promise<TableChange<T>> {
  // Without a codec the rows are given in their JSON form, as they are.
  const run = codec === undefined ? (row: unknown): Attempt<T> => ({ _tag: 'Right', right: row as T }) : runnerFor(codec)
  const settle = (row: JsonRow, attempt: Attempt<T>): DecodedRow<T> => {
    if (attempt._tag === 'Right') return attempt
    const { messages, cause } = attempt.left
    return { _tag: 'Left', left: new DecodeError({ channel: where.channel, payload: JSON.stringify(row), messages, direction: 'receive' }, cause === undefined ? undefined : { cause }) }
  }
  const decodeRow = (row: JsonRow | undefined): DecodedRow<T> | Promise<DecodedRow<T>> | undefined => {
    if (row === undefined) return undefined
    const attempt = run(row)
    return isPromiseLike(attempt) ? Promise.resolve(attempt).then((settled) => settle(row, settled)) : settle(row, attempt)
  }
  return (raw) => {
    const decodedNew = decodeRow(raw.new)
    const decodedOld = decodeRow(raw.old)
    const assemble = (newRow: DecodedRow<T> | undefined, oldRow: DecodedRow<T> | undefined): TableChange<T> => {
      const { op, key, new: _new, old: _old, ...rest } = raw
      return { op, schema: where.schema, table: where.table, key, ...rest, ...(newRow === undefined ? {} : { new: newRow }), ...(oldRow === undefined ? {} : { old: oldRow }) }
    }
    if (isPromiseLike(decodedNew) || isPromiseLike(decodedOld)) return Promise.all([decodedNew, decodedOld]).then(([n, o]) => assemble(n, o))
    return assemble(decodedNew, decodedOld)
  }
}
