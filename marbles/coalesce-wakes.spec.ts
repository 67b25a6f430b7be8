import { TestScheduler } from 'rxjs/testing'
import { beforeEach, describe, expect, it } from 'vitest'
import { coalesceWakes } from '../lib/durable/index.js'

// coalesceWakes takes no user callback, so the "callback that throws" case has no analogue.

let testScheduler: TestScheduler
beforeEach(() => {
  testScheduler = new TestScheduler((actual, expected) => expect(actual).toEqual(expected))
})

describe('coalesceWakes', () => {
  it('passes the first wake-up of a quiet channel at once', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const commits = hot('--a----------|')
      const expected = '   --a----------|'
      expectObservable(commits.pipe(coalesceWakes(5, testScheduler))).toBe(expected)
    })
  })

  it('sends at most one more per window: the trailing one, so a commit inside the window is never left unwoken', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const commits = hot('-aaaa-a-----a---|')
      const expected = '   -a----a-----a---|'
      expectObservable(commits.pipe(coalesceWakes(5, testScheduler))).toBe(expected)
    })
  })

  it('coalesces each channel on its own', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const commits = hot('-abab------|')
      const expected = '   -ab---ab---|'
      expectObservable(commits.pipe(coalesceWakes(5, testScheduler))).toBe(expected)
    })
  })

  it('emits nothing for a source that never emits, and passes completion and errors on', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      expectObservable(cold('-').pipe(coalesceWakes(5, testScheduler)), '----------!').toBe('-')
      expectObservable(cold('|').pipe(coalesceWakes(5, testScheduler))).toBe('|')
      expectObservable(cold('--#').pipe(coalesceWakes(5, testScheduler))).toBe('--#')
    })
  })

  it('unsubscribes from the commits when unsubscribed early', () => {
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const commits = hot('-a-a-a-a')
      expectObservable(commits.pipe(coalesceWakes(5, testScheduler)), '---!').toBe('-a-')
      expectSubscriptions(commits.subscriptions).toBe('^--!')
    })
  })
})
