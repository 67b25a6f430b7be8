// docs/durable.md stays true: its SQL block is the SQL the code installs. (Its TypeScript blocks are compiled
// with every other doc's by spec/docs/code-blocks.spec.ts.)
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { fencedBlocks } from '../support/markdown.js'
import { durableSchemaSql } from '../../lib/durable/index.js'

const root = join(import.meta.dirname, '..', '..')

describe('docs/durable.md', () => {
  it('shows exactly the SQL that durableSchemaSql() installs', async () => {
    const markdown = await readFile(join(root, 'docs/durable.md'), 'utf8')
    const section = markdown.slice(markdown.indexOf('## The SQL it installs'))
    expect(fencedBlocks(section, 'sql')).toEqual([durableSchemaSql()])
  })
})
