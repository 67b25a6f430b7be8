/**
 * The results chart: grouped bars of each library's ratio to raw pg (1× = raw pg), on a log scale, with
 * min–max whiskers. Plain SVG text, no dependency. Unit-tested in spec/bench-chart.spec.ts.
 */
import type { ChartGroup, ScenarioResult } from './scenarios/common.js'

const COLORS: Record<string, string> = {
  'pg-listen': '#8c6d31',
  postgres: '#3182bd',
  rxpg: '#d6604d',
  'rxpg notify()': '#f4a582',
}
const FALLBACK_COLORS = ['#756bb1', '#31a354', '#636363']

const LABELS: Record<string, string> = { postgres: 'postgres.js' }

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

/** Ticks of a log axis between `low` and `high`: 1-2-5 steps. */
export function logTicks(low: number, high: number): number[] {
  const ticks: number[] = []
  for (let exponent = Math.floor(Math.log10(low)); exponent <= Math.ceil(Math.log10(high)); exponent++) {
    for (const mantissa of [1, 2, 5]) {
      const value = mantissa * 10 ** exponent
      if (value >= low * 0.999 && value <= high * 1.001) ticks.push(Number(value.toPrecision(3)))
    }
  }
  return ticks
}

function formatTick(value: number): string {
  return `${value}×`
}

/** Renders the groups of every scenario (skipping NaN bars) as one SVG document. */
export function renderChart(results: readonly ScenarioResult[], title = 'rxpg and peers, ratio to raw pg (1× = raw pg; log scale)'): string {
  const groups: ChartGroup[] = results.flatMap((result) => result.chart).filter((group) => group.bars.some((bar) => Number.isFinite(bar.ratio)))
  const peers = [...new Set(groups.flatMap((group) => group.bars.map((bar) => bar.peer)))]
  const colorOf = (peer: string) => COLORS[peer] ?? FALLBACK_COLORS[peers.indexOf(peer) % FALLBACK_COLORS.length] ?? '#999'

  const values = groups.flatMap((group) => group.bars.flatMap((bar) => [bar.ratio, bar.min ?? bar.ratio, bar.max ?? bar.ratio])).filter((value) => Number.isFinite(value) && value > 0)
  const low = Math.min(0.5, ...values.map((value) => value / 1.2))
  const high = Math.max(2, ...values.map((value) => value * 1.2))
  const ticks = logTicks(low, high)
  const axisLow = Math.min(low, ticks[0] ?? low)
  const axisHigh = Math.max(high, ticks[ticks.length - 1] ?? high)

  const barWidth = 22
  const groupGap = 34
  const groupWidth = (group: ChartGroup) => group.bars.length * barWidth + groupGap
  const left = 70
  const top = 60
  const plotHeight = 320
  const plotWidth = Math.max(300, groups.reduce((sum, group) => sum + groupWidth(group), 0))
  const width = left + plotWidth + 20
  const height = top + plotHeight + 120
  const y = (value: number) => top + plotHeight - ((Math.log(value) - Math.log(axisLow)) / (Math.log(axisHigh) - Math.log(axisLow))) * plotHeight

  const parts: string[] = []
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`)
  parts.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`)
  parts.push(`<text x="${left}" y="24" font-size="15" font-weight="bold">${escapeXml(title)}</text>`)
  // Legend
  let legendX = left
  for (const peer of peers) {
    parts.push(`<rect x="${legendX}" y="36" width="12" height="12" fill="${colorOf(peer)}"/>`)
    const label = LABELS[peer] ?? peer
    parts.push(`<text x="${legendX + 16}" y="46">${escapeXml(label)}</text>`)
    legendX += 26 + label.length * 7
  }
  // Axis and grid
  for (const tick of ticks) {
    const at = y(tick).toFixed(1)
    parts.push(`<line x1="${left}" x2="${left + plotWidth}" y1="${at}" y2="${at}" stroke="${tick === 1 ? '#333' : '#ddd'}" stroke-width="${tick === 1 ? 1.5 : 1}"/>`)
    parts.push(`<text x="${left - 6}" y="${(y(tick) + 4).toFixed(1)}" text-anchor="end" fill="#555">${formatTick(tick)}</text>`)
  }
  parts.push(`<text x="${left + plotWidth - 4}" y="${(y(1) - 5).toFixed(1)}" text-anchor="end" fill="#333">raw pg</text>`)
  // Bars
  let x = left + groupGap / 2
  for (const group of groups) {
    const start = x
    for (const bar of group.bars) {
      if (Number.isFinite(bar.ratio) && bar.ratio > 0) {
        const from = y(1)
        const to = y(bar.ratio)
        const barTop = Math.min(from, to)
        const barHeight = Math.max(1, Math.abs(from - to))
        parts.push(
          `<rect x="${x + 2}" y="${barTop.toFixed(1)}" width="${barWidth - 4}" height="${barHeight.toFixed(1)}" fill="${colorOf(bar.peer)}"><title>${escapeXml(`${LABELS[bar.peer] ?? bar.peer}, ${group.label}: ${bar.ratio.toFixed(2)}×`)}</title></rect>`,
        )
        if (bar.min !== undefined && bar.max !== undefined && Number.isFinite(bar.min) && Number.isFinite(bar.max) && bar.min > 0) {
          const middle = x + barWidth / 2
          parts.push(`<line x1="${middle}" x2="${middle}" y1="${y(bar.min).toFixed(1)}" y2="${y(bar.max).toFixed(1)}" stroke="#222" stroke-width="1"/>`)
        }
        const labelY = bar.ratio >= 1 ? Math.min(to, bar.max !== undefined && Number.isFinite(bar.max) ? y(bar.max) : to) - 4 : Math.max(to, bar.min !== undefined && Number.isFinite(bar.min) && bar.min > 0 ? y(bar.min) : to) + 12
        parts.push(`<text x="${x + barWidth / 2}" y="${labelY.toFixed(1)}" text-anchor="middle" font-size="9" fill="#222">${bar.ratio >= 10 ? bar.ratio.toFixed(0) : bar.ratio.toFixed(2)}</text>`)
      }
      x += barWidth
    }
    const centre = (start + x) / 2
    const words = group.label.split(' ')
    const lines: string[] = []
    for (const word of words) {
      const current = lines[lines.length - 1]
      if (current !== undefined && (current + ' ' + word).length <= Math.max(14, Math.floor(groupWidth(group) / 6.2))) lines[lines.length - 1] = current + ' ' + word
      else lines.push(word)
    }
    lines.forEach((line, index) => parts.push(`<text x="${centre.toFixed(1)}" y="${top + plotHeight + 18 + index * 14}" text-anchor="middle" fill="#222">${escapeXml(line)}</text>`))
    parts.push(
      `<text x="${centre.toFixed(1)}" y="${top + plotHeight + 18 + lines.length * 14}" text-anchor="middle" font-size="10" fill="#777">${group.lowerIsBetter ? '(lower is better)' : '(higher is better)'}</text>`,
    )
    x += groupGap
  }
  parts.push(`<line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotHeight}" stroke="#333"/>`)
  parts.push('</svg>')
  return parts.join('\n') + '\n'
}
