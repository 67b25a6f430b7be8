// docs/changes.md stays true: its SQL blocks are the SQL changeFeedSql() generates. (Its TypeScript blocks are
// compiled, and the runnable one run, with every other doc's by spec/docs/code-blocks.spec.ts.)
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { changeFeedSql } from '../../lib/changes/index.js'

const root = join(import.meta.dirname, '..', '..')
const blocksOf = (markdown: string, language: string) => [...markdown.matchAll(new RegExp('^```' + language + '\\n([\\s\\S]*?)^```', 'gm'))].map((match) => match[1] ?? '')

describe('docs/changes.md', () => {
  it('shows exactly the SQL that changeFeedSql() generates: durable, light, and the drop', async () => {
    const markdown = await readFile(join(root, 'docs/changes.md'), 'utf8')
    const section = markdown.slice(markdown.indexOf('## The SQL it generates'))
    const durable = changeFeedSql({ table: 'public.orders', key: ['id'] })
    const light = changeFeedSql({ table: 'public.orders', key: ['id'], carrier: 'light' })
    expect(blocksOf(section, 'sql')).toEqual([durable.install, light.install, durable.drop])
  })
})
