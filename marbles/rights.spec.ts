import * as E from 'fp-ts/Either'
import { TestScheduler } from 'rxjs/testing'
import { beforeEach, describe, expect, it } from 'vitest'
import { rights, type Either } from '../lib/index.js'

// rights() takes no user callback, so the "callback that throws" case of other operators has no analogue.
const values: Record<string, Either<string, number>> = { a: E.right(1), b: E.right(2), x: E.left('bad') }
const unwrapped = { a: 1, b: 2 }

let testScheduler: TestScheduler
beforeEach(() => {
  testScheduler = new TestScheduler((actual, expected) => expect(actual).toEqual(expected))
})

describe('rights', () => {
  it('emits nothing for a source that never emits', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold<Either<string, number>>('-')
      const unsub = '                               -----!'
      expectObservable(source.pipe(rights()), unsub).toBe('-')
      expectSubscriptions(source.subscriptions).toBe('^----!')
    })
  })

  it('completes when the source completes without values', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      expectObservable(cold<Either<string, number>>('|').pipe(rights())).toBe('|')
    })
  })

  it('unwraps one Right', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('--a--|', values)
      const expected = '   --a--|'
      expectObservable(source.pipe(rights())).toBe(expected, unwrapped)
    })
  })

  it('unwraps the Rights and drops the Lefts', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const source = hot('--a--x--b--x--|', values)
      const expected = '  --a-----b-----|'
      expectObservable(source.pipe(rights())).toBe(expected, unwrapped)
    })
  })

  it('passes a source error through', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('--a--x--#', values)
      const expected = '   --a-----#'
      expectObservable(source.pipe(rights())).toBe(expected, unwrapped)
    })
  })

  it('keeps going on a source that never ends', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const source = hot('--a--x--b--', values)
      const unsub = '     ----------!'
      const expected = '  --a-----b--'
      expectObservable(source.pipe(rights()), unsub).toBe(expected, unwrapped)
    })
  })

  it('unsubscribes from the source when unsubscribed early', () => {
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('--a--b--a--|', values)
      const subs = '      ^---!'
      const unsub = '     ----!'
      const expected = '  --a--'
      expectObservable(source.pipe(rights()), unsub).toBe(expected, unwrapped)
      expectSubscriptions(source.subscriptions).toBe(subs)
    })
  })
})
