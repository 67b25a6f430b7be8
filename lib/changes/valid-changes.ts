import { mergeMap, type OperatorFunction } from 'rxjs'
import type { DecodeError } from '../index.js'
import type { TableChange, ValidTableChange } from './types.js'

/**
 * Keeps the changes whose rows decoded, with `new` and `old` unwrapped; the others go to `onInvalid` (the
 * change-feed counterpart of `decodeValid`). A change skipped this way still moves a durable reader forward.
 *
 * ```ts
 * tableChanges(source, { table: 'public.orders', row: Order }).pipe(validChanges((error, change) => console.warn(change.key, error.message)))
 * ```
 */
export function validChanges<T>(onInvalid?: (error: DecodeError, change: TableChange<T>) => void): OperatorFunction<TableChange<T>, ValidTableChange<T>> {
  return mergeMap((change) => {
    const failed = change.new?._tag === 'Left' ? change.new.left : change.old?._tag === 'Left' ? change.old.left : undefined
    if (failed !== undefined) {
      onInvalid?.(failed, change)
      return []
    }
    const { new: newRow, old: oldRow, ...rest } = change
    const valid: ValidTableChange<T> = {
      ...rest,
      ...(newRow?._tag === 'Right' ? { new: newRow.right } : {}),
      ...(oldRow?._tag === 'Right' ? { old: oldRow.right } : {}),
    }
    return [valid]
  })
}
