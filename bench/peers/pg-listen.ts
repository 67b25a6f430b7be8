/**
 * pg-listen, as its README shows: `createSubscriber({ connectionString })`, `notifications.on(channel, fn)`,
 * `connect()`, `listenTo(channel)`, `notify(channel, value)`. Its default `parse` (JSON.parse) is its decoding.
 */
import * as pgListenModule from 'pg-listen'
import type { Options, Subscriber } from 'pg-listen'
import type { BenchPayload } from '../support/payload.js'
import { chunks, type ReceiverFactory, type SenderFactory } from './types.js'

type Create = (config: { connectionString: string }, options?: Options) => Subscriber
// pg-listen is CommonJS with `exports.default`: under Node's ESM loader the function is one level down.
const loaded = pgListenModule as unknown as { default: Create | { default: Create } }
const createSubscriber: Create = typeof loaded.default === 'function' ? loaded.default : loaded.default.default

function receiverWith(options?: Options): ReceiverFactory {
  return async ({ url, channels, subscribers, onValue, onEvent }) => {
    const subscriber = createSubscriber({ connectionString: url }, options)
    subscriber.events.on('error', (error) => onEvent(`error: ${error.message}`))
    subscriber.events.on('reconnect', (attempt) => onEvent(`reconnect attempt ${attempt}`))
    subscriber.events.on('connected', () => onEvent('connected'))
    const listen = async (names: readonly string[]) => {
      for (const channel of names) {
        for (let index = 0; index < subscribers; index++) subscriber.notifications.on(channel, (payload: BenchPayload) => onValue(payload))
      }
      for (const group of chunks(names, 500)) await Promise.all(group.map((channel) => subscriber.listenTo(channel)))
    }
    await subscriber.connect()
    await listen(channels)
    return { add: listen, close: () => subscriber.close().catch(() => undefined) }
  }
}

export const pgListenReceiver = receiverWith()
/** With `retryTimeout: 0` (retry for ever) instead of the default 3000 ms. */
export const pgListenNoTimeoutReceiver = receiverWith({ retryTimeout: 0 })

export const pgListenSender: SenderFactory = async (url) => {
  const subscriber = createSubscriber({ connectionString: url })
  subscriber.events.on('error', () => undefined)
  await subscriber.connect()
  return {
    sendAll: async (channel, payloads) => {
      await Promise.all(payloads.map((payload) => subscriber.notify(channel, payload)))
    },
    close: () => subscriber.close().catch(() => undefined),
  }
}
