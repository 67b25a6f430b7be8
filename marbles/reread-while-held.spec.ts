/**
 * `rereadWhileHeld`: after each read, whether it found messages committed past the snapshot horizon (`t`) or not
 * (`f`); it emits when to read again. One frame is 1 ms; the first wait is 5 ms, the longest 20 ms.
 */
import { TestScheduler } from 'rxjs/testing'
import { beforeEach, describe, expect, it } from 'vitest'
import { heldBackRereads, rereadWhileHeld } from '../lib/durable/reread-while-held.js'
import type { LogContext } from '../lib/durable/log-context.js'

let testScheduler: TestScheduler
beforeEach(() => {
  testScheduler = new TestScheduler((actual, expected) => expect(actual).toEqual(expected))
})

const reads = { t: true, f: false }

describe('rereadWhileHeld', () => {
  it('asks for a read 5 ms after a read that found messages held back, and nothing after one that found none', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const held = hot('-t-----f----f-----|', reads)
      expectObservable(held.pipe(rereadWhileHeld(5, 20, testScheduler))).toBe('------x-----------|', { x: undefined })
    })
  })

  it('waits twice as long after each read that still finds them, up to the longest wait', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      // Each read asked for is made a frame later and still finds them held: waits of 5, 10, 20, 20 ms.
      const held = hot('-t 5ms t 10ms t 20ms t 20ms f |', reads)
      expectObservable(held.pipe(rereadWhileHeld(5, 20, testScheduler))).toBe('- 5ms x 10ms x 20ms x 20ms x 1ms |', { x: undefined })
    })
  })

  it('starts again from the first wait once a read found none held back', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      // Held at 1 and 7 (a read due at 17), none held at 10: held again at 11, the wait is 5 ms again.
      const held = hot('-t 5ms t 2ms f t 18ms |', reads)
      expectObservable(held.pipe(rereadWhileHeld(5, 20, testScheduler))).toBe('- 5ms x 9ms x 13ms |', { x: undefined })
    })
  })

  it('lets a read made meanwhile (a wake-up, the poll) replace the wait set before it', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      // Held at 1 (a read due at 6), then a read at 3 still finds them held: the next is due 10 ms later, at 13.
      const held = hot('-t-t----------|', reads)
      expectObservable(held.pipe(rereadWhileHeld(5, 20, testScheduler))).toBe('-------------x|', { x: undefined })
    })
  })

  it('passes completion and errors on', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      expectObservable(cold<boolean>('|').pipe(rereadWhileHeld(5, 20, testScheduler))).toBe('|')
      expectObservable(cold<boolean>('-#').pipe(rereadWhileHeld(5, 20, testScheduler))).toBe('-#')
    })
  })

  it("a log's readers: first after wakeWindow, then at most a second apart however long pollInterval is", () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const context = { resolved: { wakeWindow: 5, pollInterval: 60_000 }, scheduler: testScheduler } as unknown as Pick<LogContext, 'resolved' | 'scheduler'>
      // Held for good: each read asked for is made a frame later and still finds them held.
      const held = hot('-t 5ms t 10ms t 20ms t 40ms t 80ms t 160ms t 320ms t 640ms t 1000ms t 1000ms f |', reads)
      expectObservable(held.pipe(heldBackRereads(context))).toBe('- 5ms x 10ms x 20ms x 40ms x 80ms x 160ms x 320ms x 640ms x 1000ms x 1000ms x 1ms |', { x: undefined })
    })
  })
})
