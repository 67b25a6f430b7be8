import { map, mergeMap } from 'rxjs'
import { describe, expect, it } from 'vitest'
import { runMarbles, virtualSource, type VirtualSessionScript } from '../lib/testing/index.js'

const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })

describe('virtual source', () => {
  it('refuses an empty list of connect() answers when it is made, not as a connection error retried for ever', () => {
    expect(() => virtualSource([])).toThrow(new TypeError('virtualSource: give at least one connect() answer (an Observable per attempt, or a function of the attempt)'))
  })

  it('answers each connect() as drawn, the last drawing answering every later one', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualSource([cold<VirtualSessionScript>('-#', undefined, refused), cold('--s', { s: {} })])
      const processIds = (frame: string) => cold(frame).pipe(mergeMap(() => source.connect(() => scheduler.now())), mergeMap((session) => [session.processId]))
      expectObservable(processIds('a')).toBe('     -#', undefined, refused)
      expectObservable(processIds('-a')).toBe('    ---x', { x: 102 })
      expectObservable(processIds('--a')).toBe('   ----y', { y: 103 })
    }))

  it('answers the health check with the channels its confirmed LISTEN batches left', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualSource([cold('s', { s: { changeListens: () => cold('--(a|)') } })])
      const answers = source.connect(() => scheduler.now()).pipe(
        mergeMap((session) => cold('a---b').pipe(mergeMap((step) => (step === 'a' ? session.changeListens(['orders'], []) : session.listeningChannels())))),
      )
      expectObservable(answers).toBe('--a-b', { a: 'a', b: ['orders'] })
    }))

  it('delivers what its transport commits to the connections that listen to the channel', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualSource([cold('s', { s: { processId: 7 } })], { answer: () => cold('-|') })
      const received = source.connect(() => scheduler.now()).pipe(
        mergeMap((session) => {
          cold('a-b').subscribe((step) => (step === 'a' ? session.changeListens(['probe'], []) : source.transport.send([{ channel: 'probe', payload: 'x' }])).subscribe())
          return session.notifications
        }),
      )
      // Sent at 2, committed at 3, by the transport's connection (process 900).
      expectObservable(received, '^----!').toBe('---n-', { n: { channel: 'probe', payload: 'x', processId: 900 } })
    }))

  it('tells when a connection last received anything, in the clock it was given', () =>
    runMarbles(({ cold, hot, expectObservable, scheduler }) => {
      const arrivals = hot('---n', { n: { channel: 'orders', payload: '1', processId: 2 } })
      const source = virtualSource([cold('-s', { s: { notifications: arrivals } })])
      const lastReceived = source.connect(() => scheduler.now()).pipe(
        mergeMap((session) => {
          session.notifications.subscribe()
          return cold('a---b').pipe(map(() => session.lastReceivedAt()))
        }),
      )
      // Opened at 1; the notification at 3.
      expectObservable(lastReceived).toBe('-a---b', { a: 1, b: 3 })
    }))

  it('records connects, LISTEN batches, health checks and ends', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualSource([cold('s', { s: { processId: 7 } })])
      // The records are hot: expect them before the first connect.
      expectObservable(source.connects$).toBe('    a', { a: 1 })
      expectObservable(source.listens$).toBe('     -a', { a: { processId: 7, add: ['orders'], remove: [] } })
      expectObservable(source.healthChecks$).toBe('---a', { a: 7 })
      expectObservable(source.ends$).toBe('        -----a', { a: 7 })
      cold('a').pipe(mergeMap(() => source.connect(() => scheduler.now()))).subscribe((session) => {
        cold('-a-b-c').subscribe((step) => {
          if (step === 'a') session.changeListens(['orders'], []).subscribe()
          if (step === 'b') session.listeningChannels().subscribe()
          if (step === 'c') void session.end()
        })
      })
    }))
})
