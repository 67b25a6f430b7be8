/**
 * rxpg's own receive path in one process, no socket: the router delivers to `channels` channels, round robin,
 * each `channel(name).pipe(decode(asPayload)).subscribe(handle)` as in the bench's receiver. Run by
 * bench/route-cachegrind.ts under valgrind, which counts what `count` deliveries cost.
 *
 * With `raw` instead of a lib dir, the same deliveries go to what bench/peers/pg.ts does with raw pg: a Map from
 * channel to handlers, and `JSON.parse`. The difference is what rxpg adds.
 *
 *   node --import tsx bench/workers/route.ts <compiled lib dir | raw> <channels> <count>
 */
import type { Either } from 'fp-ts/Either'
import type * as Decode from '../../lib/operators/decode.js'
import type * as Router from '../../lib/channel-router.js'
import type { RawNotification } from '../../lib/ports/notification-source.js'
import { payloadText, type BenchPayload } from '../support/payload.js'

const [libDir, channelsArg, countArg] = process.argv.slice(2)
if (libDir === undefined || channelsArg === undefined || countArg === undefined) throw new Error('usage: route.ts <lib dir> <channels> <count>')
const channels = Number(channelsArg)
const count = Number(countArg)

/** The bench receiver's decoder: JSON parsing is decode's own; the shape is trusted. */
const asPayload = (input: unknown): Either<never, BenchPayload> => ({ _tag: 'Right', right: input as BenchPayload })
let received = 0
/** Raw pg's handler gets the value itself, as in bench/peers/pg.ts; rxpg's subscriber unwraps decode's Either. */
const onValue = (value: BenchPayload): void => {
  if (value.seq >= 0) received += 1
}
const handle = (result: Either<unknown, BenchPayload>): void => {
  if (result._tag === 'Right') onValue(result.right)
}
const names = Array.from({ length: channels }, (_, index) => `bench_route_${index}`)
const router = libDir === 'raw' ? rawPg(names) : await rxpg(libDir, names)

type Deliver = (notification: RawNotification, receivedAt: number) => void

async function rxpg(dir: string, channelNames: readonly string[]): Promise<{ deliver: Deliver }> {
  const { ChannelRouter }: typeof Router = await import(`${dir}/channel-router.js`)
  const { decode }: typeof Decode = await import(`${dir}/operators/decode.js`)
  const channelRouter = new ChannelRouter()
  for (const name of channelNames) channelRouter.channel(name).pipe(decode(asPayload)).subscribe(handle)
  return channelRouter
}

function rawPg(channelNames: readonly string[]): { deliver: Deliver } {
  const routes = new Map<string, Array<(value: BenchPayload) => void>>()
  for (const name of channelNames) routes.set(name, [onValue])
  return {
    deliver: (message) => {
      const handlers = routes.get(message.channel)
      if (handlers === undefined) return
      const value = JSON.parse(message.payload) as BenchPayload
      for (const each of handlers) each(value)
    },
  }
}

// Channel names and payloads as pg-protocol's parser makes them: new strings decoded from the socket's bytes,
// and a new notification object, every time. `wire` holds them all; `at` where each starts and ends.
const payloads = Array.from({ length: 1024 }, (_, seq) => payloadText(seq, 1_796_167_713_012))
const texts = [...names, ...payloads]
const wire = Buffer.from(texts.join(''))
const at: number[] = [0]
for (const text of texts) at.push((at.at(-1) as number) + Buffer.byteLength(text))

function deliver(deliveries: number): void {
  for (let index = 0; index < deliveries; index++) {
    const channel = index % channels
    const seq = index & 1023
    router.deliver(
      {
        channel: wire.toString('utf8', at[channel], at[channel + 1]),
        payload: wire.toString('utf8', at[channels + seq], at[channels + seq + 1]),
        processId: 7,
      },
      0,
    )
  }
}
deliver(20_000) // past the JIT's warm-up, so the difference between two counts is the steady state
deliver(count)
if (received !== 20_000 + count) throw new Error(`${received} values decoded of ${20_000 + count} delivered`)
