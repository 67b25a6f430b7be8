import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import ts from 'typescript'
import { afterAll, describe, expect, it } from 'vitest'
import { browserBundle } from '../../support/browser-bundle.js'

const root = resolve(import.meta.dirname, '../..')
mkdirSync(join(root, '.tmp'), { recursive: true })
const directory = mkdtempSync(join(root, '.tmp', 'browser-bundle-'))
afterAll(() => rmSync(directory, { recursive: true, force: true }))

/** An entry that imports rxpg/browser and one more module, as a change to lib/browser could. */
function entryImporting(specifier: string): string {
  const file = join(directory, `entry-${Math.random().toString(36).slice(2)}.ts`)
  writeFileSync(file, `export * from '${join(root, 'lib/browser/index.js')}'\nexport * as extra from '${specifier}'\n`)
  return file
}

describe('rxpg/browser bundle', () => {
  it('reaches no Node module and no pg, and stays within 5 kB min+gzip without rxjs', async () => {
    const bundle = await browserBundle()
    expect(bundle.nodeOnly).toEqual([])
    expect(bundle.inputs.some((input) => input.includes('eventsource-parser'))).toBe(true)
    expect(bundle.gzipped).toBeLessThanOrEqual(5000)
  })

  it('fails for a Node module', async () => {
    await expect(browserBundle({ entry: entryImporting('node:fs') })).rejects.toThrow(/node:fs/)
  })

  it('fails for pg', async () => {
    const failed = await browserBundle({ entry: entryImporting('pg') }).then(
      (bundle) => bundle.nodeOnly,
      (error: Error) => [error.message],
    )
    expect(failed.join('\n')).toMatch(/pg/)
  })
})

describe('rxpg/browser types', () => {
  it("type-check in a browser project: the DOM and ES2022 libraries only, no Node types, the library's declarations checked", () => {
    const options: ts.CompilerOptions = {
      target: ts.ScriptTarget.ES2022,
      lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
      types: [],
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      strict: true,
      exactOptionalPropertyTypes: true,
      skipLibCheck: false,
      noEmit: true,
    }
    const program = ts.createProgram({ rootNames: [join(root, 'lib/browser/index.ts')], options })
    const diagnostics = ts.getPreEmitDiagnostics(program).map((diagnostic) => {
      const where = diagnostic.file ? `${diagnostic.file.fileName.slice(root.length + 1)}:${diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start ?? 0).line + 1} ` : ''
      return where + ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')
    })
    expect(diagnostics).toEqual([])
  })
})
