/**
 * @internal The option names of a feed's readers (`tableChanges`, `consumeChanges`), checked against their types:
 * a field added there must be added here, and a misspelt option is refused rather than read as its default.
 */
import { unknownOption } from '../option-checks.js'
import { InvalidChangeFeedError } from './errors.js'
import type { ConsumeChangesOptions } from './types.js'

/** The feed's spec and the row codec: what every reader takes. */
export const FEED_READER_OPTIONS = {
  table: true,
  name: true,
  feedSchema: true,
  carrier: true,
  ops: true,
  columns: true,
  old: true,
  when: true,
  key: true,
  level: true,
  skipUnchangedUpdates: true,
  logSchema: true,
  partitions: true,
  wakeWindow: true,
  row: true,
} as const satisfies Record<keyof ConsumeChangesOptions<unknown>, true>

/** Throws `InvalidChangeFeedError` naming an option `known` does not have, and the ones it has (`hint` for a name that belongs elsewhere). */
export function refuseUnknownOptions(options: { readonly table: unknown }, known: object, hint: (name: string) => string = () => ''): void {
  const unknown = unknownOption(options, known)
  if (unknown === undefined) return
  throw new InvalidChangeFeedError({ table: String(options.table), detail: `unknown option ${JSON.stringify(unknown)}${hint(unknown)}; the options are { ${Object.keys(known).join(', ')} }` })
}
