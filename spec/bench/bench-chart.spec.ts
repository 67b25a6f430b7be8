import { describe, expect, it } from 'vitest'
import { escapeXml, logTicks, renderChart } from '../../bench/chart.js'
import type { ScenarioResult } from '../../bench/scenarios/common.js'

const result = (chart: ScenarioResult['chart']): ScenarioResult => ({ id: 'x', title: 'x', method: '', tables: [], chart, targets: [], raw: null })

describe('bench chart', () => {
  it('puts 1-2-5 ticks on the log axis', () => {
    expect(logTicks(0.4, 30)).toEqual([0.5, 1, 2, 5, 10, 20])
  })

  it('escapes text for XML', () => {
    expect(escapeXml('a < b & "c"')).toBe('a &lt; b &amp; &quot;c&quot;')
  })

  it('draws one bar per library and group, from the 1× line, skipping missing figures', () => {
    const svg = renderChart([
      result([
        { label: 'send msgs/s', lowerIsBetter: false, bars: [{ peer: 'rxpg', ratio: 20, min: 18, max: 25 }, { peer: 'postgres', ratio: Number.NaN }] },
        { label: 'CPU <per msg>', lowerIsBetter: true, bars: [{ peer: 'rxpg', ratio: 0.8 }] },
      ]),
    ])
    expect(svg.startsWith('<svg')).toBe(true)
    expect(svg.trim().endsWith('</svg>')).toBe(true)
    expect(svg.match(/<rect [^>]*><title>/g)).toHaveLength(2)
    expect(svg).toContain('rxpg, send msgs/s: 20.00×')
    expect(svg).toContain('CPU &lt;per msg&gt;')
    expect(svg).toContain('(lower is better)')
  })

  it('renders an empty chart when no scenario has bars', () => {
    expect(renderChart([result([])])).toContain('</svg>')
  })
})
