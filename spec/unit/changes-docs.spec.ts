// docs/changes.md stays true: its SQL blocks are the SQL changeFeedSql() generates. (Its TypeScript blocks are
// compiled, and the runnable one run, with every other doc's by spec/docs/code-blocks.spec.ts.)
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { fencedBlocks } from '../support/markdown.js'
import { changeFeedSql } from '../../lib/changes/index.js'

const root = join(import.meta.dirname, '..', '..')

describe('docs/changes.md', () => {
  it('shows exactly the SQL that changeFeedSql() generates: durable, light, and the drop', async () => {
    const markdown = await readFile(join(root, 'docs/changes.md'), 'utf8')
    const section = markdown.slice(markdown.indexOf('## The SQL it generates'))
    const durable = changeFeedSql({ table: 'public.orders', key: ['id'] })
    const light = changeFeedSql({ table: 'public.orders', key: ['id'], carrier: 'light' })
    expect(fencedBlocks(section, 'sql')).toEqual([durable.install, light.install, durable.drop])
  })
})
