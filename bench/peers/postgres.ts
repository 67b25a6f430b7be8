/** postgres.js, as its README shows: `sql.listen(channel, fn)` + `JSON.parse`, `sql.notify(channel, payload)`. */
import postgres from 'postgres'
import type { BenchPayload } from '../support/payload.js'
import { chunks, type ReceiverFactory, type SenderFactory } from './types.js'

export const postgresReceiver: ReceiverFactory = async ({ url, channels, subscribers, onValue, onEvent }) => {
  const sql = postgres(url, { onnotice: () => undefined })
  const listen = async (names: readonly string[]) => {
    for (const group of chunks(names, 500)) {
      await Promise.all(
        group.flatMap((channel) =>
          Array.from({ length: subscribers }, () =>
            sql.listen(
              channel,
              (payload) => onValue(JSON.parse(payload) as BenchPayload),
              () => onEvent(`listening ${channel}`),
            ),
          ),
        ),
      )
    }
  }
  // The first listen opens the dedicated listening connection; the rest reuse it.
  const [first, ...rest] = channels
  if (first !== undefined) await listen([first])
  await listen(rest)
  return { add: listen, close: () => sql.end({ timeout: 1 }).catch(() => undefined) }
}

export const postgresSender: SenderFactory = async (url) => {
  const sql = postgres(url, { onnotice: () => undefined })
  await sql`select 1`
  return {
    sendAll: async (channel, payloads) => {
      await Promise.all(payloads.map((payload) => sql.notify(channel, JSON.stringify(payload))))
    },
    close: () => sql.end({ timeout: 1 }).catch(() => undefined),
  }
}
