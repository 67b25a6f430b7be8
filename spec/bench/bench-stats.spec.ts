import { describe, expect, it } from 'vitest'
import { slope } from '../../bench/scenarios/memory.js'
import { pairedRatios, rotate } from '../../bench/scenarios/common.js'
import { pickListeningBackend, withApplicationName } from '../../bench/scenarios/recovery.js'
import { summarizeProfile, shortenUrl } from '../../bench/support/profile.js'
import { acrossKills, formatNumber, formatSummary, latencyPercentiles, median, quantile, ratio, summarize, tallyStream } from '../../bench/support/stats.js'

describe('bench statistics', () => {
  it('interpolates quantiles between closest ranks', () => {
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5)
    expect(quantile([4, 1, 3, 2], 0.25)).toBe(1.75)
    expect(quantile([5], 0.99)).toBe(5)
    expect(quantile([], 0.5)).toBeNaN()
    expect(median([3, 1, 2])).toBe(2)
  })

  it('summarizes runs with median, spread and quartiles, leaving out NaN', () => {
    const summary = summarize([10, Number.NaN, 30, 20])
    expect(summary).toMatchObject({ median: 20, min: 10, max: 30, q1: 15, q3: 25, n: 3 })
    expect(summarize([]).n).toBe(0)
  })

  it('gives p50, p99 and max of a latency sample', () => {
    const samples = Array.from({ length: 101 }, (_, index) => index)
    expect(latencyPercentiles(samples)).toEqual({ p50: 50, p99: 99, max: 100, count: 101 })
  })

  it('pairs per-run ratios and skips missing runs', () => {
    expect(pairedRatios([2, 4, Number.NaN], [1, 2, 3])).toEqual([2, 2])
    expect(ratio(1, 0)).toBeNaN()
  })

  it('rotates the order of libraries from run to run', () => {
    expect(rotate(['a', 'b', 'c'], 1)).toEqual(['b', 'c', 'a'])
    expect(rotate(['a', 'b', 'c'], 4)).toEqual(['b', 'c', 'a'])
  })

  it('formats figures to three significant digits', () => {
    expect(formatNumber(1234567)).toBe('1,234,567')
    expect(formatNumber(1.23456)).toBe('1.23')
    expect(formatNumber(0.012345)).toBe('0.0123')
    expect(formatNumber(Number.NaN)).toBe('–')
    expect(formatSummary(summarize([1, 2, 3]))).toBe('2.00 (1.00–3.00)')
  })

  it('tallies loss, duplicates and foreign deliveries of a numbered stream, in any order', () => {
    // Stream 10…14: 12 never arrives, 11 arrives twice, 99 and 9 are not part of it.
    expect(tallyStream([10, 11, 13, 11, 14, 99, 9], 10, 5)).toEqual({ sent: 5, received: 4, lost: 1, duplicates: 1, foreign: 2 })
    expect(tallyStream([], 0, 3)).toEqual({ sent: 3, received: 0, lost: 3, duplicates: 0, foreign: 0 })
    expect(tallyStream(Float64Array.from([2, 1, 0]), 0, 3)).toEqual({ sent: 3, received: 3, lost: 0, duplicates: 0, foreign: 0 })
  })

  it('finds, for each kill, the first delivery sent after it and the notifications lost before it', () => {
    // Seq n sent at 10n ns and delivered 3 ns later, except: 4 to 6 never arrive, 8 and 9 arrive at 130 and 131 (a stall).
    const delivered = [1, 2, 3, 7, 8, 9]
    const record = { seqs: delivered, sentNs: delivered.map((seq) => seq * 10), emitNs: delivered.map((seq) => (seq >= 8 ? 122 + seq : seq * 10 + 3)) }
    const kills = [
      { killNs: 38, terminatedNs: 39 },
      { killNs: 75, terminatedNs: 76 },
      { killNs: 95, terminatedNs: 96 },
    ]
    const [deaf, stalled, never] = acrossKills(kills, record)
    expect(deaf).toEqual({ firstDeliveryMs: (73 - 38) / 1e6, firstSentMs: (70 - 38) / 1e6, lost: 3 })
    expect(stalled).toEqual({ firstDeliveryMs: (130 - 75) / 1e6, firstSentMs: (80 - 75) / 1e6, lost: 0 })
    expect(never?.firstDeliveryMs).toBeNaN()
    expect(never?.lost).toBeNaN()
  })

  it('fits the least-squares slope of a series', () => {
    expect(slope([1, 3, 5, 7])).toBeCloseTo(2)
    expect(slope([5, 5, 5])).toBe(0)
    expect(slope([1])).toBeNaN()
  })
})

describe('bench profile summary', () => {
  const frame = (id: number, functionName: string, url = '', children: number[] = []) => ({ id, callFrame: { functionName, url, lineNumber: 9, columnNumber: 0 }, children })
  it('ranks frames by self time, leaves out idle, and caps gaps such as a SIGSTOP', () => {
    const profile = {
      startTime: 0,
      endTime: 1000,
      nodes: [frame(1, '(root)', '', [2, 3, 4]), frame(2, 'parse', 'file:///x/node_modules/pg-protocol/dist/parser.js'), frame(3, 'deliver', 'file:///work/main/lib/channel-router.ts'), frame(4, '(idle)')],
      samples: [2, 2, 3, 4, 2],
      // µs until each sample; the one before the last sample is a 1 s gap (frozen process).
      timeDeltas: [0, 100, 100, 100, 1_000_000],
    }
    const summary = summarizeProfile(profile, 5)
    expect(summary.frames.map((entry) => entry.name)).toEqual(['parse', 'deliver'])
    expect(summary.frames[0]?.where).toBe('pg-protocol/dist/parser.js:10')
    expect(summary.busyMs).toBeLessThan(1)
    expect(summary.byOrigin.map((origin) => origin.origin)).toEqual(['pg-protocol', 'rxpg (lib/)'])
  })

  it('shortens file URLs to package or project paths', () => {
    expect(shortenUrl('file:///work/main/node_modules/rxjs/dist/cjs/internal/Subject.js')).toBe('rxjs/dist/cjs/internal/Subject.js')
    expect(shortenUrl('file:///work/main/lib/operators/decode.ts')).toBe('lib/operators/decode.ts')
    expect(shortenUrl('file:///work/main/bench/.runs/src-head/lib/channel-router.ts')).toBe('lib/channel-router.ts')
    expect(shortenUrl('file:///work/main/bench/.runs/dist/channel-router.js')).toBe('lib/channel-router.js')
  })
})

describe('bench backend kill', () => {
  it('tells the listening backend from rxpg\'s sending one by their last statements', () => {
    const sending = { pid: 1, query: 'SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS n(c, p)' }
    expect(pickListeningBackend([sending, { pid: 2, query: 'LISTEN "bench_kill_0"' }])).toBe(2)
    expect(pickListeningBackend([sending, { pid: 3, query: 'SELECT pg_listening_channels() AS c' }])).toBe(3)
    // The only backend of a library that opens one connection, whatever it ran last (pg-listen's paranoid check).
    expect(pickListeningBackend([{ pid: 4, query: 'SELECT pg_backend_pid()' }])).toBe(4)
  })

  it('does not guess when it cannot tell, nor take a sending connection for a listening one', () => {
    expect(pickListeningBackend([])).toBeUndefined()
    expect(pickListeningBackend([{ pid: 1, query: 'SELECT pg_notify($1, $2)' }])).toBeUndefined()
    expect(pickListeningBackend([{ pid: 1, query: 'LISTEN "a"' }, { pid: 2, query: 'listen "a"' }])).toBeUndefined()
    expect(pickListeningBackend([{ pid: 1, query: '' }, { pid: 2, query: '' }])).toBeUndefined()
  })

  it('sets application_name in a connection URL, keeping its other parts', () => {
    expect(withApplicationName('postgres://postgres:s%40cret@127.0.0.1:5433/postgres', 'bench_kill_rxpg')).toBe('postgres://postgres:s%40cret@127.0.0.1:5433/postgres?application_name=bench_kill_rxpg')
    expect(withApplicationName('postgres://u@h/db?sslmode=disable&application_name=x', 'y')).toBe('postgres://u@h/db?sslmode=disable&application_name=y')
  })
})
