/**
 * Property-based races against the real server: fast-check draws short sequences of subscribe, unsubscribe,
 * notify (through `notify()` and `notify$`), termination of the listening backend, pauses and `close()`, runs
 * them without waiting for anything in between (so LISTEN/UNLISTEN batches, sends and reconnects overlap), and
 * checks what must hold whatever the interleaving:
 *
 * - once settled, the set of channels the listening backend LISTENs to (asked of that very backend) equals the
 *   set of channels that have subscribers, and every subscriber hears a marker sent then;
 * - no LISTEN is sent for a channel the session already listens to, no UNLISTEN for one it does not;
 * - no subscriber hears anything after it unsubscribed, nothing is heard twice (every payload is unique),
 *   nothing is heard on another channel than the one subscribed;
 * - in a run without terminations, a notification sent by this process after a subscriber subscribed reaches
 *   it, and the listener never reconnects (no false alarm from the health check);
 * - after `close()`: every channel completed, `state$` and `errors$` completed, later subscriptions complete at
 *   once, later sends are refused, and no timer or socket is left (`process.getActiveResourcesInfo()`).
 */
import fc from 'fast-check'
import { filter, firstValueFrom, type Subscription } from 'rxjs'
import { describe, expect, it } from 'vitest'
import {
  createPgListener,
  ListenerClosedError,
  type ListenerState,
  type PgNotification,
  type RxpgError,
} from '../../lib/index.js'
import { databaseUrl, eventually, terminateBackend, uniqueName } from '../support/database.js'
import { observedSource } from '../support/observed-source.js'

type Command =
  | { readonly kind: 'subscribe'; readonly channel: number }
  | { readonly kind: 'unsubscribe'; readonly pick: number }
  | { readonly kind: 'notify'; readonly channel: number; readonly via: 'notify' | 'notify$' }
  | { readonly kind: 'terminate' }
  | { readonly kind: 'wait'; readonly ms: number }
  | { readonly kind: 'close' }

const CHANNELS = 4
const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('subscribe' as const), channel: fc.nat(CHANNELS - 1) }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('unsubscribe' as const), pick: fc.nat(50) }) },
  {
    weight: 8,
    arbitrary: fc.record({ kind: fc.constant('notify' as const), channel: fc.nat(CHANNELS - 1), via: fc.constantFrom('notify' as const, 'notify$' as const) }),
  },
  { weight: 2, arbitrary: fc.constant({ kind: 'terminate' as const }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('wait' as const), ms: fc.nat(15) }) },
  // Rare, so most runs go on long enough to race; about half the runs close somewhere.
  { weight: 1, arbitrary: fc.constant({ kind: 'close' as const }) },
)
const sequence = fc.array(command, { minLength: 4, maxLength: 20, size: 'max' })

/** Bound on each wait inside a run: short, so a failing run shrinks in reasonable time. */
const SETTLE_LIMIT_MS = 5_000

interface Observer {
  readonly id: number
  readonly channel: string
  readonly subscribedAt: number
  unsubscribedAt: number | undefined
  readonly received: PgNotification[]
  readonly afterUnsubscribe: PgNotification[]
  completed: boolean
  readonly errors: unknown[]
  subscription: Subscription | undefined
}

interface Send {
  readonly step: number
  readonly channel: string
  readonly payload: string
  readonly via: 'notify' | 'notify$'
  outcome: 'pending' | 'resolved' | unknown
}

function resourceCounts(): Map<string, number> {
  const counts = new Map<string, number>()
  for (const resource of process.getActiveResourcesInfo()) counts.set(resource, (counts.get(resource) ?? 0) + 1)
  return counts
}

/** Resource kinds of which more are active now than in `baseline`, or '' when none. */
function leakedSince(baseline: Map<string, number>): string {
  return [...resourceCounts()]
    .filter(([kind, count]) => count > (baseline.get(kind) ?? 0))
    .map(([kind, count]) => `${kind}: ${count} now, ${baseline.get(kind) ?? 0} before`)
    .join('; ')
}

/** What the runs exercised, printed once at the end: proof that the races were really run. */
const tally = { runs: 0, closedEarly: 0, terminations: 0, reconnects: 0, listenBatches: 0, unlistens: 0, sends: 0, delivered: 0 }

async function runSequence(commands: readonly Command[], baseline: Map<string, number>): Promise<void> {
  const prefix = uniqueName('race')
  // Case, quotes, spaces and non-ASCII: each its own exact channel.
  const names = [`${prefix}-a`, `${prefix}-A`, `${prefix} "q"`, `${prefix}-ü`]
  const source = observedSource(databaseUrl())
  const db = createPgListener(databaseUrl(), {
    source,
    reconnect: { initialDelay: 10, maxDelay: 100 },
    // Checks often, so health checks overlap LISTEN batches: a false alarm would show as a reconnect.
    healthCheck: { interval: 100, timeout: 5_000 },
  })
  const states: ListenerState[] = []
  let stateCompleted = false
  db.state$.subscribe({ next: (state) => states.push(state), complete: () => (stateCompleted = true) })
  const reported: RxpgError[] = []
  let errorsCompleted = false
  db.errors$.subscribe({ next: (error) => reported.push(error), complete: () => (errorsCompleted = true) })

  const observers: Observer[] = []
  const sends: Send[] = []
  const terminations: Promise<unknown>[] = []
  let terminated = false
  let closedAt: number | undefined
  let nextId = 0

  const subscribe = (channel: string, step: number): Observer => {
    const observer: Observer = {
      id: nextId++,
      channel,
      subscribedAt: step,
      unsubscribedAt: undefined,
      received: [],
      afterUnsubscribe: [],
      completed: false,
      errors: [],
      subscription: undefined,
    }
    observers.push(observer)
    observer.subscription = db.channel(channel).subscribe({
      next: (notification) => (observer.unsubscribedAt === undefined ? observer.received : observer.afterUnsubscribe).push(notification),
      error: (error: unknown) => void observer.errors.push(error),
      complete: () => (observer.completed = true),
    })
    return observer
  }
  const active = () => observers.filter((o) => o.unsubscribedAt === undefined && !o.completed)
  const describe = () =>
    `commands ${JSON.stringify(commands)}; last states ${states.slice(-20).map((s) => s.status).join(' -> ')}; ` +
    `LISTEN batches of the last sessions ${JSON.stringify(source.sessions.slice(-5).map((s) => s.changes))}`

  try {
    for (const [step, next] of commands.entries()) {
      switch (next.kind) {
        case 'subscribe': {
          const observer = subscribe(names[next.channel]!, step)
          // After close, a new subscription completes at once.
          if (closedAt !== undefined) expect(observer.completed).toBe(true)
          break
        }
        case 'unsubscribe': {
          const candidates = active()
          const observer = candidates[next.pick % Math.max(1, candidates.length)]
          if (observer === undefined) break
          observer.unsubscribedAt = step
          observer.subscription?.unsubscribe()
          break
        }
        case 'notify': {
          const channel = names[next.channel]!
          const payload = `${step}:${next.via}:${nextId++}`
          const send: Send = { step, channel, payload, via: next.via, outcome: 'pending' }
          sends.push(send)
          if (next.via === 'notify' || closedAt !== undefined) {
            // After close, notify() (not notify$, whose errors$ has completed) shows the refusal.
            db.notify(channel, payload).then(
              () => (send.outcome = 'resolved'),
              (error: unknown) => (send.outcome = error),
            )
          } else {
            db.notify$.next({ channel, payload })
          }
          break
        }
        case 'terminate': {
          // Never subscribed: there is no backend to terminate.
          if (closedAt !== undefined || states.at(-1)?.status === 'idle') break
          terminated = true
          // Not awaited: the termination lands somewhere among the next commands, on the backend that is
          // listening then (waiting for one if the listener is between connections).
          terminations.push(
            firstValueFrom(db.state$.pipe(filter((state) => state.status === 'connected' || state.status === 'closed')), { defaultValue: undefined }).then(
              (state) => (state?.status === 'connected' ? terminateBackend(state.processId) : undefined),
            ),
          )
          break
        }
        case 'wait':
          await new Promise((resolve) => setTimeout(resolve, next.ms))
          break
        case 'close':
          if (closedAt === undefined) {
            closedAt = step
            await db.close()
          }
          break
      }
    }
    await Promise.all(terminations)

    if (closedAt === undefined) {
      // Settled: connected on the newest session, and that backend LISTENs to exactly the subscribed channels.
      const wanted = () => [...new Set(active().map((o) => o.channel))].sort()
      let listening: string[] = []
      await eventually(
        async () => {
          const state = states.at(-1)
          // Never subscribed: nothing connects, nothing is listened.
          if (state?.status === 'idle') return wanted().length === 0 && source.sessions.length === 0
          const newest = source.sessions.at(-1)
          if (state?.status !== 'connected' || newest === undefined || state.processId !== newest.session.processId) return false
          listening = await new Promise<string[]>((resolve) =>
            newest.session.listeningChannels().subscribe({ next: (channels) => resolve([...channels].sort()), error: () => resolve(['<query failed>']) }),
          )
          listening = listening.filter((name) => name.startsWith(prefix))
          return JSON.stringify(listening) === JSON.stringify(wanted())
        },
        () => `server LISTENs ${JSON.stringify(listening)}, subscribed ${JSON.stringify(wanted())}; ${describe()}`,
        SETTLE_LIMIT_MS,
      )

      // Sends by this process after a subscriber subscribed reach it (when no backend was terminated meanwhile).
      if (!terminated) {
        const owed = sends.flatMap((send) =>
          observers.filter((o) => o.channel === send.channel && o.subscribedAt < send.step && o.unsubscribedAt === undefined).map((o) => ({ o, send })),
        )
        await eventually(
          () => owed.every(({ o, send }) => o.received.some((n) => n.payload === send.payload)),
          () => `not received: ${JSON.stringify(owed.filter(({ o, send }) => !o.received.some((n) => n.payload === send.payload)).map(({ o, send }) => [o.id, send.payload]))}; ${describe()}`,
          SETTLE_LIMIT_MS,
        )
      }

      // Every subscriber hears a marker sent now, exactly once.
      const markers = names.map((channel) => ({ channel, payload: `marker:${nextId++}` }))
      await Promise.all(markers.map(({ channel, payload }) => db.notify(channel, payload)))
      await eventually(
        () => active().every((o) => o.received.some((n) => n.payload === markers[names.indexOf(o.channel)]!.payload)),
        () => `markers missing for observers ${JSON.stringify(active().filter((o) => !o.received.some((n) => n.payload.startsWith('marker:'))).map((o) => o.id))}; ${describe()}`,
        SETTLE_LIMIT_MS,
      )
      await eventually(() => sends.every((send) => send.via === 'notify$' || send.outcome !== 'pending'), () => 'a notify() never settled', SETTLE_LIMIT_MS)
      await db.close()
    }
  } finally {
    await db.close()
  }

  tally.runs += 1
  tally.closedEarly += closedAt === undefined ? 0 : 1
  tally.terminations += terminations.length
  tally.reconnects += states.filter((s) => s.status === 'reconnecting').length
  tally.listenBatches += source.sessions.reduce((sum, s) => sum + s.changes.length, 0)
  tally.unlistens += source.sessions.reduce((sum, s) => sum + s.changes.reduce((n, c) => n + c.remove.length, 0), 0)
  tally.sends += sends.length
  tally.delivered += observers.reduce((sum, o) => sum + o.received.length, 0)

  // After close: everything ended.
  expect(stateCompleted).toBe(true)
  expect(errorsCompleted).toBe(true)
  expect(states.at(-1)).toEqual({ status: 'closed' })
  expect(states.filter((s) => s.status === 'failed')).toEqual([])
  if (!terminated) expect(states.filter((s) => s.status === 'reconnecting')).toEqual([])
  // Terminations explain reconnects; a health check finding the LISTEN set out of step never is explained.
  const alarms = states.flatMap((s) => (s.status === 'reconnecting' && /health check/.test(s.lastError.message) ? [s.lastError.message] : []))
  expect(alarms, describe()).toEqual([])
  for (const o of observers) {
    expect(o.errors).toEqual([])
    expect(o.afterUnsubscribe).toEqual([])
    if (o.unsubscribedAt === undefined) expect(o.completed).toBe(true)
    const payloads = o.received.map((n) => n.payload)
    expect(new Set(payloads).size).toBe(payloads.length)
    expect(o.received.every((n) => n.channel === o.channel)).toBe(true)
    const sentHere = new Set(sends.filter((s) => s.channel === o.channel).map((s) => s.payload))
    expect(payloads.filter((p) => !p.startsWith('marker:') && !sentHere.has(p))).toEqual([])
  }
  for (const name of names) {
    let completed = false
    db.channel(name).subscribe({ complete: () => (completed = true) })
    expect(completed).toBe(true)
  }
  await expect(db.notify(names[0]!, 'after the end')).rejects.toBeInstanceOf(ListenerClosedError)

  // Sends: committed, except that close() may refuse what it could not send; after close() always refused.
  for (const send of sends) {
    if (closedAt !== undefined && send.step > closedAt) {
      expect(send.outcome).toBeInstanceOf(ListenerClosedError)
    } else if (send.via === 'notify' && closedAt === undefined) {
      expect(send.outcome).toBe('resolved')
    } else if (send.via === 'notify') {
      expect(send.outcome === 'resolved' || send.outcome instanceof ListenerClosedError).toBe(true)
    }
  }
  const unexpected = reported.filter((error) => !(closedAt !== undefined && error instanceof ListenerClosedError))
  expect(unexpected).toEqual([])

  // The LISTEN bookkeeping never sent a redundant LISTEN or an UNLISTEN of something not listened to.
  for (const { changes } of source.sessions) {
    const listened = new Set<string>()
    for (const { add, remove } of changes) {
      for (const name of remove.filter((n) => n.startsWith(prefix))) {
        expect(listened.has(name), `UNLISTEN ${name} while not listening; ${describe()}`).toBe(true)
        listened.delete(name)
      }
      for (const name of add.filter((n) => n.startsWith(prefix))) {
        expect(listened.has(name), `LISTEN ${name} twice; ${describe()}`).toBe(false)
        listened.add(name)
      }
    }
  }

  // No timer, socket or handle is left behind.
  let leaks = ''
  await eventually(
    () => (leaks = leakedSince(baseline)) === '',
    () => `still active after close: ${leaks}`,
    SETTLE_LIMIT_MS,
  )
}

describe('races between subscribe, unsubscribe, notify, backend termination and close', () => {
  it('keeps every invariant for random interleavings against the real server', async () => {
    const baseline = resourceCounts()
    await fc.assert(
      fc.asyncProperty(sequence, (commands) => runSequence(commands, baseline)),
      { numRuns: 25 },
    )
    console.log(`[races] ${JSON.stringify(tally)}`)
  }, 120_000)
})
