// What the long-running commands say on stderr about their listener: a reconnection's gap means lost
// notifications for `listen` (and a light feed), and nothing lost for a durable log's readers.
import { of } from 'rxjs'
import { describe, expect, it } from 'vitest'
import { reportListener } from '../../lib/cli/listener-report.js'
import { ConnectionLostError, type ListenerState } from '../../lib/index.js'

const states: ListenerState[] = [
  { status: 'connected', processId: 1 },
  { status: 'connected', processId: 2, gap: { since: Date.UTC(2026, 10, 30), duration: 2500 } },
]

const linesOf = (gaps?: 'missed' | 'read-on') => {
  const lines: string[] = []
  reportListener(of(...states), (line) => lines.push(line), 'reading', gaps).unsubscribe()
  return lines
}

describe('the listener report', () => {
  it('says what a LISTEN may have missed during the gap', () => {
    expect(linesOf()).toEqual(['reading (backend 1)', 'reconnected (backend 2); notifications committed in the 2.5 s since 2026-11-30T00:00:00.000Z may be missing'])
  })

  it('says it cannot connect, rather than that a connection was lost, until a first one is made', () => {
    const lost = new ConnectionLostError({ systemCode: 'ECONNREFUSED', detail: 'connect ECONNREFUSED 127.0.0.1:1' })
    const lines: string[] = []
    const retrying: ListenerState = { status: 'reconnecting', attempt: 1, delay: 100, lastError: lost }
    reportListener(of(retrying, states[0] as ListenerState, { ...retrying, attempt: 2 }), (line) => lines.push(line), 'reading').unsubscribe()
    expect(lines.map((line) => line.replace(/: .*;/, ':…;'))).toEqual(['cannot connect:…; retrying (attempt 1, in 100 ms)', 'reading (backend 1)', 'connection lost:…; reconnecting (attempt 2, in 100 ms)'])
  })

  it('says that a durable reader misses nothing', () => {
    expect(linesOf('read-on')[1]).toBe('reconnected (backend 2); reading on from where it was: nothing committed meanwhile is missed')
  })

  // A long outage printed a line every 1-2 s for ever: the first attempts are said, then a change of cause,
  // then one line every 30 attempts (about a minute at the back-off's cap).
  it('says the first three attempts, a new cause, and then every 30th attempt of a long outage', () => {
    const refused = new ConnectionLostError({ systemCode: 'ECONNREFUSED', detail: 'connect ECONNREFUSED 127.0.0.1:1' })
    const unknownHost = new ConnectionLostError({ systemCode: 'ENOTFOUND', detail: 'getaddrinfo ENOTFOUND db' })
    const attempts: ListenerState[] = Array.from({ length: 70 }, (_, index) => ({ status: 'reconnecting', attempt: index + 1, delay: 2000, lastError: index < 40 ? refused : unknownHost }))
    const lines: string[] = []
    reportListener(of(...attempts), (line) => lines.push(line), 'reading').unsubscribe()
    expect(lines.map((line) => /\(attempt (\d+)/.exec(line)?.[1])).toEqual(['1', '2', '3', '30', '41', '60'])
    expect(lines[2]).toContain('; retrying (attempt 3, in 2000 ms; from here on said every 30 attempts, or when the cause changes)')
  })
})
