// docs/durable.md stays true: its SQL block is the SQL the code installs, and every TypeScript block in it (and
// in the README's durable section) compiles against the library as users import it ('rxpg', 'rxpg/durable').
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'
import { durableSchemaSql } from '../../lib/durable/index.js'

const root = join(import.meta.dirname, '..', '..')
const blocksOf = (markdown: string, language: string) => [...markdown.matchAll(new RegExp('^```' + language + '\\n([\\s\\S]*?)^```', 'gm'))].map((match) => match[1] ?? '')

describe('docs/durable.md', () => {
  it('shows exactly the SQL that durableSchemaSql() installs', async () => {
    const markdown = await readFile(join(root, 'docs/durable.md'), 'utf8')
    const section = markdown.slice(markdown.indexOf('## The SQL it installs'))
    expect(blocksOf(section, 'sql')).toEqual([durableSchemaSql()])
  })

  it('has TypeScript blocks that compile', { timeout: 60_000 }, async () => {
    const markdown = await readFile(join(root, 'docs/durable.md'), 'utf8')
    const readme = await readFile(join(root, 'README.md'), 'utf8')
    const durableSection = readme.slice(readme.indexOf('## Durable channels'), readme.indexOf('\n## ', readme.indexOf('## Durable channels') + 1))
    const blocks = [...blocksOf(markdown, 'ts'), ...blocksOf(durableSection, 'ts')]
    expect(blocks.length).toBeGreaterThan(4)
    // Inside the repository, so that pg, rxjs and zod resolve from its node_modules.
    const dir = join(root, 'node_modules', '.cache', 'rxpg-doc-blocks')
    await rm(dir, { recursive: true, force: true })
    await mkdir(dir, { recursive: true })
    const files = await Promise.all(
      blocks.map(async (block, index) => {
        const file = join(dir, `block-${index}.ts`)
        await writeFile(file, block + '\nexport {}\n')
        return file
      }),
    )
    const program = ts.createProgram(files, {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      lib: ['lib.es2024.d.ts', 'lib.esnext.disposable.d.ts'],
      types: ['node'],
      baseUrl: root,
      paths: { rxpg: ['lib/index.ts'], 'rxpg/durable': ['lib/durable/index.ts'] },
      allowImportingTsExtensions: true,
    })
    const problems = ts.getPreEmitDiagnostics(program).map((diagnostic) => {
      const where = diagnostic.file ? `${diagnostic.file.fileName.replace(dir, 'block')}:${diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start ?? 0).line + 1}` : ''
      return `${where} ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`
    })
    expect(problems).toEqual([])
  })
})
