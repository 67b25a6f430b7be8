import * as E from 'fp-ts/Either'
import { describe, expect, it } from 'vitest'
import { filterRight, type Either } from '../lib/index.js'
import { runMarbles } from '../lib/testing/index.js'

type Shape = { kind: 'circle'; r: number } | { kind: 'square'; side: number }
const isCircle = (shape: Shape): shape is Extract<Shape, { kind: 'circle' }> => shape.kind === 'circle'

const values: Record<string, Either<string, Shape>> = {
  c: E.right({ kind: 'circle', r: 1 }),
  s: E.right({ kind: 'square', side: 2 }),
  x: E.left('bad payload'),
}

describe('filterRight', () => {
  it('emits nothing for a source that never emits', () =>
    runMarbles(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold<Either<string, Shape>>('-')
      const unsub = '                              -----!'
      expectObservable(source.pipe(filterRight(isCircle)), unsub).toBe('-')
      expectSubscriptions(source.subscriptions).toBe('^----!')
    }))

  it('completes when the source completes without values', () =>
    runMarbles(({ cold, expectObservable }) => {
      expectObservable(cold<Either<string, Shape>>('|').pipe(filterRight(isCircle))).toBe('|')
    }))

  it('keeps one Right that passes', () =>
    runMarbles(({ cold, expectObservable }) => {
      const source = cold('--c--|', values)
      const expected = '   --c--|'
      expectObservable(source.pipe(filterRight(isCircle))).toBe(expected, values)
    }))

  it('keeps the passing Rights and every Left, drops the other Rights', () =>
    runMarbles(({ hot, expectObservable }) => {
      const source = hot('--c--s--x--s--c--|', values)
      const expected = '  --c-----x-----c--|'
      expectObservable(source.pipe(filterRight(isCircle))).toBe(expected, values)
    }))

  it('errors with what the predicate throws, and unsubscribes', () =>
    runMarbles(({ hot, expectObservable, expectSubscriptions }) => {
      const thrown = new Error('predicate failed')
      const source = hot('--c--s--c--|', values)
      const subs = '      ^----!'
      const expected = '  --c--#'
      const predicate = (shape: Shape) => {
        if (shape.kind === 'square') throw thrown
        return true
      }
      expectObservable(source.pipe(filterRight(predicate))).toBe(expected, values, thrown)
      expectSubscriptions(source.subscriptions).toBe(subs)
    }))

  it('does not call the predicate for a Left', () => {
    const called: Shape[] = []
    runMarbles(({ cold, expectObservable }) => {
      const source = cold('--x--c--|', values)
      const expected = '   --x--c--|'
      expectObservable(source.pipe(filterRight((shape: Shape) => (called.push(shape), true)))).toBe(expected, values)
    })
    expect(called).toEqual([{ kind: 'circle', r: 1 }])
  })

  it('passes a source error through', () =>
    runMarbles(({ cold, expectObservable }) => {
      const source = cold('--c--#', values)
      const expected = '   --c--#'
      expectObservable(source.pipe(filterRight(isCircle))).toBe(expected, values)
    }))

  it('keeps going on a source that never ends', () =>
    runMarbles(({ hot, expectObservable }) => {
      const source = hot('--c--s--c--', values)
      const unsub = '     ----------!'
      const expected = '  --c-----c--'
      expectObservable(source.pipe(filterRight(isCircle)), unsub).toBe(expected, values)
    }))

  it('unsubscribes from the source when unsubscribed early', () =>
    runMarbles(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('--c--c--c--|', values)
      const subs = '      ^---!'
      const unsub = '     ----!'
      const expected = '  --c--'
      expectObservable(source.pipe(filterRight(isCircle)), unsub).toBe(expected, values)
      expectSubscriptions(source.subscriptions).toBe(subs)
    }))
})
