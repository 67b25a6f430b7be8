import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
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
