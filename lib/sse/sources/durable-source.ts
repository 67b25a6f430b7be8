import type { TypedChannel } from '../../typed-channel.js'
import type { DurableMessage } from '../../durable/types.js'
import type { SseSource } from '../source.js'
import { DurableHub, type HubLog } from './durable-hub.js'
import { assertDurableSourceOptions } from './durable-source-options.js'
import { durableResetReason } from './reset-errors.js'

export interface DurableSourceOptions {
  /** Where a client without a position starts: `'now'` (default: what commits from now on) or `'earliest'` (the whole log kept). */
  readonly from?: 'now' | 'earliest' | undefined
  /** Messages per catch-up page (default 500). */
  readonly pageSize?: number | undefined
  /** Live messages a catching-up stream may hold while it reads pages (default 10000, at least 1); past it, it reads on and joins later. */
  readonly maxHeldWhileCatchingUp?: number | undefined
}

/**
 * A durable channel as an SSE channel: each event's `id` is its token, a reconnecting client resumes exactly
 * after the last event it got, and a token older than the retention gives a reset.
 *
 * One reader serves every client of the process (create one source per channel and keep it); a client
 * resuming from an older token catches up through pages of its own, then joins it. The SSE data is the
 * message's value as JSON; `canSee` and `data` get the whole `DurableMessage` (token, key, value, ...).
 * With a typed channel only its name is used: the server passes the stored JSON on, and the client decodes it
 * with the same decoder.
 */
export function durableSource(log: HubLog, channel: string | Pick<TypedChannel<unknown>, 'name'>, options: DurableSourceOptions = {}): SseSource<DurableMessage<unknown>> {
  assertDurableSourceOptions(options)
  const name = typeof channel === 'string' ? channel : channel.name
  const hub = new DurableHub(log, name, { pageSize: options.pageSize ?? 500, maxHeldWhileCatchingUp: options.maxHeldWhileCatchingUp ?? 10_000 })
  const fresh = options.from ?? 'now'
  return {
    resumable: true,
    open: (from) => (from !== undefined ? hub.catchUp(from) : fresh === 'earliest' ? hub.catchUp('earliest') : hub.join()),
    data: (message) => JSON.stringify(message.value) ?? 'null',
    isReset: durableResetReason,
  }
}
