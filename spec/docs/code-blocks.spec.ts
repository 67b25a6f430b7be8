/**
 * Every ```ts block of README.md and docs/*.md compiles against lib/ (and `ts runnable` blocks run against the
 * test server), so the docs cannot drift from the code. The convention is in docs/CONTRIBUTING.md.
 */
import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { databaseUrl } from '../support/database.js'
import { blockName, documentationFiles, entryPointSources, extractCodeBlocks, isRunnable, isTypeScript, typeCheck, withMarkdownLines, type CodeBlock, type TypeCheck } from './code-blocks.js'

const root = resolve(import.meta.dirname, '../..')
const extracted = documentationFiles(root).map((file) => extractCodeBlocks(file, readFileSync(join(root, file), 'utf8')))
const blocks = extracted.flatMap(({ blocks }) => blocks)
const typeScriptBlocks = blocks.filter(isTypeScript)

/** A bound on a hanging program, not a timing assertion: a runnable block normally ends within seconds. */
const RUN_LIMIT_MS = 60_000

describe('docs code blocks', () => {
  it('follow the conventions', () => {
    const problems = extracted.flatMap(({ problems }) => problems)
    // A fence without a language could hide TypeScript from the checker: diagrams are ```text, shell ```sh.
    for (const block of blocks) if (block.language === '') problems.push(`${blockName(block)}: name the block's language (\`\`\`ts, \`\`\`text, \`\`\`sh, …)`)
    expect(problems).toEqual([])
  })

  describe('compile', () => {
    let checked: TypeCheck
    beforeAll(() => {
      checked = typeCheck(root, typeScriptBlocks)
    })

    it('with the compiler options of tsconfig.json', () => {
      expect(checked.global).toEqual([])
    })

    it.each(typeScriptBlocks.map((block) => [blockName(block), block] as const))('%s', (_name, block) => {
      const diagnostics = checked.diagnostics(block)
      if (diagnostics.length > 0) expect.fail(`${blockName(block)} does not compile:\n\n${diagnostics.join('\n\n')}`)
    })
  })

  describe('run', () => {
    let directory: string
    let tsconfig: string
    beforeAll(() => {
      mkdirSync(join(root, '.tmp'), { recursive: true })
      directory = mkdtempSync(join(root, '.tmp', 'code-blocks-'))
      // tsx resolves the package's entry points to lib/ through these paths, as the compile step does.
      tsconfig = join(directory, 'tsconfig.json')
      writeFileSync(tsconfig, JSON.stringify({ extends: join(root, 'tsconfig.json'), compilerOptions: { paths: entryPointSources(root) } }))
    })
    afterAll(() => {
      if (directory) rmSync(directory, { recursive: true, force: true })
    })

    it.each(typeScriptBlocks.filter(isRunnable).map((block) => [blockName(block), block] as const))(
      '%s',
      async (_name, block) => {
        const result = await run(block, directory, tsconfig)
        if (result.failure) expect.fail(`${blockName(block)} ${result.failure}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`)
      },
      RUN_LIMIT_MS + 10_000,
    )
  })
})

/** Runs the block (with its hidden context) as a program of its own, as a reader would, against the run's server. */
async function run(block: CodeBlock, directory: string, tsconfig: string): Promise<{ failure?: string; stdout: string; stderr: string }> {
  const program = join(directory, `${block.file.replaceAll('/', '-')}.${block.line}.ts`)
  writeFileSync(program, block.source)
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', program], {
      cwd: root,
      env: { ...process.env, DATABASE_URL: databaseUrl(), TSX_TSCONFIG_PATH: tsconfig },
      timeout: RUN_LIMIT_MS,
    })
    return { stdout, stderr }
  } catch (error) {
    const { killed, code, stdout = '', stderr = '' } = error as { killed?: boolean; code?: number | string; stdout?: string; stderr?: string }
    return {
      failure: killed ? `did not exit within ${RUN_LIMIT_MS / 1000} s` : `exited with ${code}`,
      stdout: withMarkdownLines(stdout, program, block),
      stderr: withMarkdownLines(stderr, program, block),
    }
  }
}
