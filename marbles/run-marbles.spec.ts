import { timer } from 'rxjs'
import { describe, expect, it } from 'vitest'
import { createPgListener } from '../lib/index.js'
import { VirtualTimeLimitError, runMarbles, virtualSource } from '../lib/testing/index.js'

// A real listener keeps timers while it runs (health checks, retries), so virtual time never runs out by
// itself: a run that forgets close() must end with an error that says so, not loop for ever.
describe('runMarbles: virtual time that would never end', () => {
  it('stops a run whose listener was never closed, and says to close it at a frame', () => {
    const run = () =>
      runMarbles(({ cold, scheduler }) => {
        const source = virtualSource([cold('-s', { s: {} })])
        const db = createPgListener('postgres://app@virtual/app', { source, transport: source.transport, scheduler })
        db.channel('orders').subscribe()
      })
    expect(run).toThrow(VirtualTimeLimitError)
    expect(run).toThrow(/timers still scheduled .*close it at a frame/)
  })

  it('says so even when an expectation failed on the way, keeping that failure as the cause', () => {
    let thrown: unknown
    try {
      runMarbles(({ cold, expectObservable, scheduler }) => {
        const source = virtualSource([cold('-s', { s: {} })])
        const db = createPgListener('postgres://app@virtual/app', { source, transport: source.transport, scheduler })
        expectObservable(db.channel('orders')).toBe('-x')
      })
    } catch (error) {
      thrown = error
    }
    expect(thrown).toBeInstanceOf(VirtualTimeLimitError)
    expect((thrown as VirtualTimeLimitError).cause).toBeInstanceOf(Error)
    expect((thrown as VirtualTimeLimitError).info).toMatchObject({ maxVirtualTime: 3_600_000 })
  })

  it('runs a finite timer past the default limit when given more virtual time', () => {
    const twoHours = 2 * 3_600_000
    expect(() => runMarbles(({ expectObservable }) => expectObservable(timer(twoHours)).toBe(`${twoHours}ms (0|)`, { 0: 0 }))).toThrow(
      VirtualTimeLimitError,
    )
    runMarbles(({ expectObservable }) => expectObservable(timer(twoHours)).toBe(`${twoHours}ms (0|)`, { 0: 0 }), {
      maxVirtualTime: 3 * 3_600_000,
    })
  })

  it('leaves timers alone past a limit the callback set itself with scheduler.maxFrames', () =>
    runMarbles(({ expectObservable, scheduler }) => {
      scheduler.maxFrames = 5
      expectObservable(timer(0, 2)).toBe('0-1-2-', { 0: 0, 1: 1, 2: 2 })
    }))

  it('leaves a run that ends by itself alone', () =>
    runMarbles(({ cold, expectObservable }) => expectObservable(cold('-a-|')).toBe('-a-|')))
})

// Virtual time ends when the callback returns: what an async callback checks after an await would never be
// compared, and the test would pass whatever it expects.
describe('runMarbles: a callback that returns a Promise', () => {
  it('is refused with a TypeError that says why, rather than passing with unchecked expectations', () => {
    const run = () =>
      runMarbles(async ({ cold, expectObservable }) => {
        await Promise.resolve()
        expectObservable(cold('-a|')).toBe('--WRONG|')
      })
    expect(run).toThrow(TypeError)
    expect(run).toThrow(/returned a Promise: virtual time ends when it returns, so what it checks after an await is never compared/)
  })
})
