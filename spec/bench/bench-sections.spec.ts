import { describe, expect, it } from 'vitest'
import { keptSection, spliceSection, type SectionMarkers } from '../../bench/report.js'

const markers: SectionMarkers = { start: '<!-- x:start -->', end: '<!-- x:end -->' }

describe('RESULTS.md sections written by runs of their own', () => {
  it('are replaced where they are, the rest left as it is', () => {
    const text = '# Results\n\n## 1. Receive\n\nfigures\n\n<!-- x:start -->\nold\n<!-- x:end -->\n\n## Other\n'
    const next = spliceSection(text, '<!-- x:start -->\nnew\n<!-- x:end -->', markers)
    expect(next).toBe('# Results\n\n## 1. Receive\n\nfigures\n\n<!-- x:start -->\nnew\n<!-- x:end -->\n\n## Other\n')
    expect(keptSection(next, markers)).toBe('<!-- x:start -->\nnew\n<!-- x:end -->')
  })

  it('are appended when there is none yet, and kept as nothing when absent', () => {
    expect(spliceSection('# Results\n\n', '<!-- x:start -->\nnew\n<!-- x:end -->', markers)).toBe('# Results\n\n<!-- x:start -->\nnew\n<!-- x:end -->\n')
    expect(keptSection('# Results\n', markers)).toBe('')
  })
})
