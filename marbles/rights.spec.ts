import * as E from 'fp-ts/Either'
import { describe, it } from 'vitest'
import { rights, type Either } from '../lib/index.js'
import { runMarbles } from '../lib/testing/index.js'

// rights() takes no user callback, so the "callback that throws" case of other operators has no analogue.
const values: Record<string, Either<string, number>> = { a: E.right(1), b: E.right(2), x: E.left('bad') }
const unwrapped = { a: 1, b: 2 }

describe('rights', () => {
  it('emits nothing for a source that never emits', () =>
    runMarbles(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold<Either<string, number>>('-')
      const unsub = '                               -----!'
      expectObservable(source.pipe(rights()), unsub).toBe('-')
      expectSubscriptions(source.subscriptions).toBe('^----!')
    }))

  it('completes when the source completes without values', () =>
    runMarbles(({ cold, expectObservable }) => {
      expectObservable(cold<Either<string, number>>('|').pipe(rights())).toBe('|')
    }))

  it('unwraps one Right', () =>
    runMarbles(({ cold, expectObservable }) => {
      const source = cold('--a--|', values)
      const expected = '   --a--|'
      expectObservable(source.pipe(rights())).toBe(expected, unwrapped)
    }))

  it('unwraps the Rights and drops the Lefts', () =>
    runMarbles(({ hot, expectObservable }) => {
      const source = hot('--a--x--b--x--|', values)
      const expected = '  --a-----b-----|'
      expectObservable(source.pipe(rights())).toBe(expected, unwrapped)
    }))

  it('passes a source error through', () =>
    runMarbles(({ cold, expectObservable }) => {
      const source = cold('--a--x--#', values)
      const expected = '   --a-----#'
      expectObservable(source.pipe(rights())).toBe(expected, unwrapped)
    }))

  it('keeps going on a source that never ends', () =>
    runMarbles(({ hot, expectObservable }) => {
      const source = hot('--a--x--b--', values)
      const unsub = '     ----------!'
      const expected = '  --a-----b--'
      expectObservable(source.pipe(rights()), unsub).toBe(expected, unwrapped)
    }))

  it('unsubscribes from the source when unsubscribed early', () =>
    runMarbles(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('--a--b--a--|', values)
      const subs = '      ^---!'
      const unsub = '     ----!'
      const expected = '  --a--'
      expectObservable(source.pipe(rights()), unsub).toBe(expected, unwrapped)
      expectSubscriptions(source.subscriptions).toBe(subs)
    }))
})
