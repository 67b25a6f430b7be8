import { describe, expect, it } from 'vitest'
import { extractCodeBlocks, withMarkdownLines } from './code-blocks.js'

const markdown = (...lines: string[]) => lines.join('\n')

describe('extractCodeBlocks', () => {
  it('prepends a one-line ts-context to the block right after it, mapped to the comment line', () => {
    const { blocks, problems } = extractCodeBlocks(
      'doc.md',
      markdown('# Title', '', "<!-- ts-context: declare const db: PgListener -->", '```ts runnable', 'db.close()', '```'),
    )
    expect(problems).toEqual([])
    expect(blocks).toEqual([
      { file: 'doc.md', line: 4, language: 'ts', attributes: ['runnable'], source: 'declare const db: PgListener\ndb.close()', markdownLines: [3, 5] },
    ])
  })

  it('reads a multi-line ts-context and a block indented in a list item without their indentation', () => {
    const { blocks, problems } = extractCodeBlocks(
      'doc.md',
      markdown('- item', '', '  <!-- ts-context', "  import { z } from 'zod'", '    declare const n: number', '  -->', '', '  ```ts', '  z.number()', '  ```'),
    )
    expect(problems).toEqual([])
    expect(blocks[0]).toMatchObject({ line: 8, source: "import { z } from 'zod'\n  declare const n: number\nz.number()", markdownLines: [4, 5, 9] })
  })

  it('keeps a fence inside a longer fence as text', () => {
    const { blocks } = extractCodeBlocks('doc.md', markdown('````md', '```ts', 'x', '```', '````', '```', 'diagram', '```'))
    expect(blocks.map(({ line, language, source }) => ({ line, language, source }))).toEqual([
      { line: 1, language: 'md', source: '```ts\nx\n```' },
      { line: 6, language: '', source: 'diagram' },
    ])
  })

  it('reports a context that is not right before a ts block, an unknown info word and an unclosed fence', () => {
    const { problems } = extractCodeBlocks(
      'doc.md',
      markdown('<!-- ts-context: const a = 1 -->', 'text', '<!-- ts-context: const b = 1 -->', '```text', '```', '```ts runable', 'x'),
    )
    expect(problems).toEqual([
      'doc.md:1: a ts-context comment must come right before a ```ts block',
      'doc.md:3: a ts-context comment must come right before a ```ts block, not ```text',
      'doc.md:6: the code block is never closed',
      "doc.md:6: unknown word 'runable' in the info string (known: runnable)",
    ])
  })
})

describe('withMarkdownLines', () => {
  it('names the markdown line of each location of the program in a stack trace', () => {
    const [block] = extractCodeBlocks('doc.md', markdown('<!-- ts-context: const a = 1 -->', '```ts', 'throw a', '```')).blocks
    const trace = 'Error\n    at <anonymous> (file:///tmp/x/doc.md.2.ts:2:1)\n    at /tmp/x/doc.md.2.ts:1:7'
    expect(withMarkdownLines(trace, '/tmp/x/doc.md.2.ts', block!)).toBe('Error\n    at <anonymous> (doc.md:3)\n    at doc.md:1')
  })
})
