import { of, throwError } from 'rxjs'
import { TestScheduler } from 'rxjs/testing'
import { beforeEach, describe, expect, it } from 'vitest'
import { detectStalls, type HorizonSample } from '../lib/durable/index.js'

let testScheduler: TestScheduler
beforeEach(() => {
  testScheduler = new TestScheduler((actual, expected) => expect(actual).toEqual(expected))
})

const held = (xmin: number): HorizonSample => ({ xmin: BigInt(xmin), running: true })
const idle = (xmin: number): HorizonSample => ({ xmin: BigInt(xmin), running: false })
const samples = { a: held(7), b: held(8), i: idle(9) }
const holder = { pid: 42 }
const lookup = () => of(holder)

describe('detectStalls', () => {
  it('reports a transaction holding the horizon for the threshold, named by the lookup, then its end', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const horizon = hot('a-a-a-a-a-b-b|', samples)
      const expected = '   ------s---c--|'
      expectObservable(horizon.pipe(detectStalls(6, testScheduler, lookup))).toBe(expected, {
        s: { kind: 'stalled', xid: '7', since: 0, heldFor: 6, holder },
        c: { kind: 'cleared', xid: '7', since: 0, heldFor: 10 },
      })
    })
  })

  // Two long transactions, the second started while the first held the horizon: when the first ends, the second
  // has held every reader back since it started, and is timed from when it was first seen running (it was timed
  // from the handover, reported a whole threshold later, and the readers looked free in between).
  const running = (xmin: bigint, ...inProgress: bigint[]): HorizonSample => ({ xmin, running: true, inProgress: [xmin, ...inProgress] })
  it.each<{ case: string; horizon: string; samples: Record<string, HorizonSample>; expected: string; second: { xid: string; since: number; heldFor: number } }>([
    {
      case: 'at once, after running for the threshold already',
      horizon: 'a-a-a-a-c-----|',
      samples: { a: running(7n, 8n), c: running(8n) },
      expected: '------s-(cS)--|',
      second: { xid: '8', since: 0, heldFor: 8 },
    },
    {
      case: 'once it has run for the threshold, from when it was first seen',
      horizon: 'a-a-a-b-c-c-c-c|',
      samples: { a: running(7n), b: running(7n, 9n), c: running(9n) },
      expected: '------s-c---S--|',
      second: { xid: '9', since: 6, heldFor: 6 },
    },
  ])('reports a transaction that takes the horizon over $case', ({ horizon, samples, expected, second }) => {
    testScheduler.run(({ hot, expectObservable }) => {
      expectObservable(hot(horizon, samples).pipe(detectStalls(5, testScheduler, lookup))).toBe(expected, {
        s: { kind: 'stalled', xid: '7', since: 0, heldFor: 6, holder },
        c: { kind: 'cleared', xid: '7', since: 0, heldFor: 8 },
        S: { kind: 'stalled', ...second, holder },
      })
    })
  })

  it('never reports a horizon that moves, or one whose transaction is not running (an idle cluster)', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const horizon = hot('a-b-a-b-i-i-i-i-i-i|', samples)
      expectObservable(horizon.pipe(detectStalls(3, testScheduler, lookup))).toBe('-------------------|')
    })
  })

  it('clears a stall when the transaction at the horizon ends', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const horizon = hot('a-a-a-i|', samples)
      const expected = '   ----s-c|'
      expectObservable(horizon.pipe(detectStalls(4, testScheduler, lookup))).toBe(expected, {
        s: { kind: 'stalled', xid: '7', since: 0, heldFor: 4, holder },
        c: { kind: 'cleared', xid: '7', since: 0, heldFor: 6 },
      })
    })
  })

  it('reports an unnamed stall when the lookup finds nothing', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const horizon = hot('a-a-a-|', samples)
      expectObservable(horizon.pipe(detectStalls(4, testScheduler, () => of()))).toBe('----s-|', {
        s: { kind: 'stalled', xid: '7', since: 0, heldFor: 4, holder: null },
      })
    })
  })

  it('passes a failing lookup on as an error', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const horizon = hot('a-a-a-|', samples)
      expectObservable(horizon.pipe(detectStalls(4, testScheduler, () => throwError(() => new Error('boom'))))).toBe('----#', undefined, new Error('boom'))
    })
  })

  it('emits nothing for a source that never emits and passes its errors on', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      expectObservable(cold<HorizonSample>('-').pipe(detectStalls(4, testScheduler, lookup)), '------!').toBe('-')
      expectObservable(cold<HorizonSample>('--#').pipe(detectStalls(4, testScheduler, lookup))).toBe('--#')
    })
  })

  it('unsubscribes from the samples when unsubscribed early', () => {
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const horizon = hot('a-a-a-a-a', samples)
      expectObservable(horizon.pipe(detectStalls(4, testScheduler, lookup)), '--!').toBe('---')
      expectSubscriptions(horizon.subscriptions).toBe('^-!')
    })
  })
})
