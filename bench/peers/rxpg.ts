/**
 * rxpg, as its README shows: `createPgListener(url)`, `db.channel(name).pipe(decode(decoder))`, and the
 * `notify$` sink / `notify()` for sending. Default options throughout.
 */
import { right } from 'fp-ts/lib/Either.js'
import { filter, firstValueFrom, share, type Observable } from 'rxjs'
import type * as Rxpg from '../../lib/index.js'
import type { Either, PgListener } from '../../lib/index.js'
import type { BenchPayload } from '../support/payload.js'
import type { ReceiverFactory, SenderFactory, SenderHandle } from './types.js'

/**
 * rxpg as compiled by the harness (RXPG_LIB, see bench/support/build.ts); the TypeScript sources through tsx
 * when it is not set.
 */
const { createPgListener, decode }: typeof Rxpg = await import(process.env.RXPG_LIB ?? '../../lib/index.js')

/** The decoder: JSON parsing is `decode`'s own (json: true); the bench trusts the shape, like the peers do. */
const asPayload = (input: unknown) => right(input as BenchPayload)

/** Sent by `ready()` to learn that every LISTEN is in effect; not JSON, so it decodes to a Left and is skipped. */
const PROBE = 'probe'

function receiverWith(decodeEach: boolean): ReceiverFactory {
  return async ({ url, channels, subscribers, onValue, onEvent }) => {
    const db = createPgListener(url)
    db.errors$.subscribe((error) => onEvent(`error: ${error.message}`))
    db.state$.subscribe((state) => onEvent(`state ${state.status}`))
    const handle = (result: Either<unknown, BenchPayload>) => {
      if (result._tag === 'Right') onValue(result.right)
    }
    const subscribe = (names: readonly string[]) => {
      for (const name of names) {
        if (subscribers === 1 || decodeEach) {
          for (let index = 0; index < subscribers; index++) db.channel(name).pipe(decode(asPayload)).subscribe(handle)
        } else {
          // Decoded once, shared by every subscriber.
          const decoded$: Observable<Either<unknown, BenchPayload>> = db.channel(name).pipe(decode(asPayload), share())
          for (let index = 0; index < subscribers; index++) decoded$.subscribe(handle)
        }
      }
    }
    subscribe(channels)
    await ready(db, channels)
    return {
      add: async (names) => {
        subscribe(names)
        await ready(db, names)
      },
      close: () => db.close(),
    }
  }
}

/**
 * Resolves once every LISTEN is in effect: `notify()` waits for this process's pending LISTENs before it
 * sends (rxpg's documented guarantee), so its resolution means they are.
 */
async function ready(db: PgListener, channels: readonly string[]): Promise<void> {
  await firstValueFrom(db.state$.pipe(filter((state) => state.status === 'connected')))
  const last = channels[channels.length - 1]
  if (last !== undefined) await db.notify(last, PROBE)
}

export const rxpgReceiver = receiverWith(false)
/** Each subscriber pipes its own `decode` (the naive way), instead of sharing one decoded stream. */
export const rxpgEachReceiver = receiverWith(true)

/** `notify$.next()` for all but the last, then `await notify()` for the last: in order, so all are committed. */
export const rxpgSubjectSender: SenderFactory = async (url) => senderWith(url, 'subject')
/** `notify()` for each, awaited together. */
export const rxpgPromiseSender: SenderFactory = async (url) => senderWith(url, 'promise')

async function senderWith(url: string, mode: 'subject' | 'promise'): Promise<SenderHandle> {
  const db = createPgListener(url)
  let failures = 0
  let firstFailure = ''
  db.errors$.subscribe((error) => {
    failures += 1
    firstFailure ||= error.message
  })
  await db.notify('rxpg_bench_warm', '')
  return {
    sendAll: async (channel, payloads) => {
      if (mode === 'promise') {
        await Promise.all(payloads.map((payload) => db.notify(channel, JSON.stringify(payload))))
      } else {
        const last = payloads.length - 1
        for (let index = 0; index < last; index++) db.notify$.next({ channel, payload: JSON.stringify(payloads[index]) })
        if (last >= 0) await db.notify(channel, JSON.stringify(payloads[last]))
      }
      // A refused notify$.next() (queue full, ...) goes to errors$: a run with failures must not count.
      if (failures > 0) throw new Error(`${failures} notifications failed: ${firstFailure}`)
    },
    close: () => db.close(),
  }
}
