import type { Subscription } from 'rxjs'
import { describe, expect, it } from 'vitest'
import { ChannelRouter } from '../../lib/channel-router.js'
import type { PgNotification } from '../../lib/types.js'

/** The router alone, with its demand (LISTEN/UNLISTEN) changes recorded, delivering as received at 42. */
function router() {
  const calls: string[] = []
  const routing = new ChannelRouter()
  routing.changes$.subscribe(({ channel, wanted }) => calls.push(`${wanted ? 'LISTEN' : 'UNLISTEN'} ${channel}`))
  const send = (channel: string, payload: string) => routing.deliver({ channel, payload, processId: 7 }, 42)
  return { routing, calls, send }
}

const payloads = (values: readonly PgNotification[]) => values.map((value) => value.payload)

describe('ChannelRouter', () => {
  it('gives the same Observable for the same name and routes by exact name', () => {
    const { routing, send } = router()
    expect(routing.channel('Orders')).toBe(routing.channel('Orders'))
    const upper: PgNotification[] = []
    const lower: PgNotification[] = []
    routing.channel('Orders').subscribe((value) => upper.push(value))
    routing.channel('orders').subscribe((value) => lower.push(value))
    send('Orders', 'A')
    send('orders', 'a')
    send('nobody', 'x')
    expect(upper).toEqual([{ channel: 'Orders', payload: 'A', processId: 7, receivedAt: 42 }])
    expect(payloads(lower)).toEqual(['a'])
  })

  it('asks for LISTEN on the first subscriber and UNLISTEN after the last, once each', () => {
    const { routing, calls } = router()
    const first = routing.channel('c').subscribe()
    const second = routing.channel('c').subscribe()
    first.unsubscribe()
    first.unsubscribe()
    expect(calls).toEqual(['LISTEN c'])
    second.unsubscribe()
    expect(calls).toEqual(['LISTEN c', 'UNLISTEN c'])
    routing.channel('c').subscribe()
    expect(calls).toEqual(['LISTEN c', 'UNLISTEN c', 'LISTEN c'])
  })

  it('a subscriber leaving during a delivery gets nothing more; the others get the whole sequence', () => {
    const { routing, send } = router()
    const leaver: string[] = []
    const stayer: string[] = []
    const leaving: Subscription = routing.channel('c').subscribe((value) => {
      leaver.push(value.payload)
      if (value.payload === '1') leaving.unsubscribe()
    })
    // Leaves from inside the first subscriber's callback, before it has its own turn for '2'.
    let other: Subscription | undefined = undefined
    routing.channel('c').subscribe((value) => {
      stayer.push(value.payload)
      if (value.payload === '2') other?.unsubscribe()
    })
    const otherValues: string[] = []
    other = routing.channel('c').subscribe((value) => otherValues.push(value.payload))
    send('c', '1')
    send('c', '2')
    send('c', '3')
    expect(leaver).toEqual(['1'])
    expect(stayer).toEqual(['1', '2', '3'])
    // Unsubscribed during the delivery of '2', before its turn: a closed subscriber receives nothing.
    expect(otherValues).toEqual(['1'])
  })

  it('a subscriber arriving during a delivery starts with the next notification', () => {
    const { routing, send } = router()
    const late: string[] = []
    routing.channel('c').subscribe((value) => {
      if (value.payload === '1') routing.channel('c').subscribe((next) => late.push(next.payload))
    })
    send('c', '1')
    send('c', '2')
    expect(late).toEqual(['2'])
  })

  it('delivers to exactly the current subscribers as they go from one to two, back to one, none, and one again', () => {
    const { routing, send } = router()
    const first: string[] = []
    const second: string[] = []
    const third: string[] = []
    const one = routing.channel('c').subscribe((value) => first.push(value.payload))
    send('c', '1')
    const two = routing.channel('c').subscribe((value) => second.push(value.payload))
    send('c', '2')
    one.unsubscribe()
    send('c', '3')
    two.unsubscribe()
    send('c', '4')
    routing.channel('c').subscribe((value) => third.push(value.payload))
    send('c', '5')
    expect(first).toEqual(['1', '2'])
    expect(second).toEqual(['2', '3'])
    expect(third).toEqual(['5'])
    expect(routing.received).toBe(4)
  })

  it('a refused channel delivers nothing until subscribed again, then to the new subscriber alone', () => {
    const { routing, send, calls } = router()
    const errors: unknown[] = []
    const values: string[] = []
    routing.channel('c').subscribe({ error: (error) => errors.push(error) })
    routing.refuse('c', new Error('refused'))
    send('c', 'lost')
    routing.channel('c').subscribe((value) => values.push(value.payload))
    send('c', 'kept')
    expect(errors).toHaveLength(1)
    expect(values).toEqual(['kept'])
    expect(calls).toEqual(['LISTEN c', 'UNLISTEN c', 'LISTEN c'])
  })

  it('identical notifications are each delivered', () => {
    const { routing, send } = router()
    const values: PgNotification[] = []
    routing.channel('c').subscribe((value) => values.push(value))
    send('c', 'same')
    send('c', 'same')
    expect(payloads(values)).toEqual(['same', 'same'])
    expect(values[0]).not.toBe(values[1])
  })

  it('close() completes every subscriber without UNLISTENing one by one; later subscribers complete at once', () => {
    const { routing, calls } = router()
    const completed: string[] = []
    routing.channel('a').subscribe({ complete: () => completed.push('a1') })
    routing.channel('a').subscribe({ complete: () => completed.push('a2') })
    routing.channel('b').subscribe({ complete: () => completed.push('b') })
    routing.close()
    expect(completed).toEqual(['a1', 'a2', 'b'])
    expect(calls).toEqual(['LISTEN a', 'LISTEN b'])
    routing.channel('a').subscribe({ complete: () => completed.push('late') })
    expect(completed).toContain('late')
    expect([...routing.channels()]).toEqual([])
  })

  it('fail() errors every subscriber, now and later, with the same error', () => {
    const { routing } = router()
    const errors: unknown[] = []
    const failure = new Error('rejected')
    routing.channel('a').subscribe({ error: (error: unknown) => errors.push(error) })
    routing.fail(failure)
    routing.channel('b').subscribe({ error: (error: unknown) => errors.push(error) })
    expect(errors).toEqual([failure, failure])
  })
})
