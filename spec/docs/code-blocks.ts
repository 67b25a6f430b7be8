import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import ts from 'typescript'

/** Info-string languages whose blocks are TypeScript, compiled by spec/docs/code-blocks.spec.ts. */
const TYPESCRIPT_LANGUAGES = new Set(['ts', 'typescript'])

/** Words a TypeScript block's info string may carry after its language. */
const TYPESCRIPT_ATTRIBUTES = new Set(['runnable'])

/** `<!-- ts-context: … -->` (or the same spread over lines) right before a block: code prepended to that block only. */
const CONTEXT_OPENING = /^(\s*)<!--\s*ts-context\b:?(.*)$/
const FENCE_OPENING = /^( *)(`{3,}|~{3,})(.*)$/

export interface CodeBlock {
  /** The markdown file, relative to the repository root, with forward slashes. */
  file: string
  /** 1-based line of the opening fence. */
  line: number
  /** First word of the info string; '' when the fence names no language. */
  language: string
  /** The info string's further words, such as `runnable`. */
  attributes: readonly string[]
  /** The hidden context (if any), then the block's own lines, without the fence's indentation. */
  source: string
  /** For each line of `source`, the markdown line it comes from: a diagnostic names the line a reader sees. */
  markdownLines: readonly number[]
}

export interface MarkdownCode {
  blocks: CodeBlock[]
  /** Broken conventions: a context comment that is not right before a TypeScript block, an unclosed fence, … */
  problems: string[]
}

export const isTypeScript = (block: CodeBlock): boolean => TYPESCRIPT_LANGUAGES.has(block.language)
export const isRunnable = (block: CodeBlock): boolean => block.attributes.includes('runnable')
export const blockName = (block: CodeBlock): string => `${block.file}:${block.line}`

/** README.md and every docs/*.md, so a new page is checked without a change here. */
export function documentationFiles(root: string): string[] {
  const pages = readdirSync(join(root, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => `docs/${name}`)
  return ['README.md', ...pages]
}

/** The fenced code blocks of one markdown file, each with the hidden context written right before it. */
export function extractCodeBlocks(file: string, markdown: string): MarkdownCode {
  const lines = markdown.split(/\r?\n/)
  const blocks: CodeBlock[] = []
  const problems: string[] = []
  let context: HiddenContext | undefined
  const misplaced = (at: HiddenContext) => `${file}:${at.line}: a ts-context comment must come right before a \`\`\`ts block`

  for (let index = 0; index < lines.length; index++) {
    const text = lines[index]!
    if (CONTEXT_OPENING.test(text)) {
      if (context) problems.push(misplaced(context))
      const comment = readContext(lines, index)
      if (!comment.closed) problems.push(`${file}:${index + 1}: the ts-context comment is never closed with -->`)
      context = comment.context
      index = comment.last
      continue
    }

    const opening = FENCE_OPENING.exec(text)
    if (!opening) {
      if (context && text.trim() !== '') {
        problems.push(misplaced(context))
        context = undefined
      }
      continue
    }
    const indent = opening[1]!.length
    const fence = opening[2]!
    const [language = '', ...attributes] = opening[3]!.trim().split(/\s+/).filter((word) => word !== '')
    const line = index + 1
    // Closed by a fence of the same character at least as long: a ```ts inside a ````md block stays text.
    const closing = new RegExp(`^ *${fence[0] === '`' ? '`' : '~'}{${fence.length},}\\s*$`)
    const code: string[] = []
    const codeLines: number[] = []
    for (index++; index < lines.length && !closing.test(lines[index]!); index++) {
      code.push(stripIndent(lines[index]!, indent))
      codeLines.push(index + 1)
    }
    if (index === lines.length) problems.push(`${file}:${line}: the code block is never closed`)

    const block: CodeBlock = {
      file,
      line,
      language,
      attributes,
      source: [...(context?.lines ?? []), ...code].join('\n'),
      markdownLines: [...(context?.markdownLines ?? []), ...codeLines],
    }
    blocks.push(block)
    if (context && !isTypeScript(block)) problems.push(`${misplaced(context)}, not \`\`\`${language}`)
    if (isTypeScript(block)) {
      for (const attribute of attributes) {
        if (!TYPESCRIPT_ATTRIBUTES.has(attribute)) problems.push(`${file}:${line}: unknown word '${attribute}' in the info string (known: ${[...TYPESCRIPT_ATTRIBUTES].join(', ')})`)
      }
    }
    context = undefined
  }
  if (context) problems.push(misplaced(context))
  return { blocks, problems }
}

interface HiddenContext {
  /** 1-based line where the comment opens. */
  line: number
  lines: string[]
  markdownLines: number[]
}

/** The ts-context comment that opens at `start`, without the comment's indentation, and the index of its last line. */
function readContext(lines: readonly string[], start: number): { context: HiddenContext; last: number; closed: boolean } {
  const opening = CONTEXT_OPENING.exec(lines[start]!)!
  const indent = opening[1]!.length
  const context: HiddenContext = { line: start + 1, lines: [], markdownLines: [] }
  for (let index = start, text = opening[2]!; ; text = lines[++index]!) {
    const end = text.indexOf('-->')
    const piece = end === -1 ? text : text.slice(0, end)
    if (piece.trim() !== '') {
      context.lines.push(index === start ? piece.trim() : stripIndent(piece, indent))
      context.markdownLines.push(index + 1)
    }
    if (end !== -1) return { context, last: index, closed: true }
    if (index + 1 === lines.length) return { context, last: index, closed: false }
  }
}

/** Removes up to `indent` leading spaces: the indentation of a block inside a list item. */
function stripIndent(text: string, indent: number): string {
  let removed = 0
  while (removed < indent && text[removed] === ' ') removed++
  return text.slice(removed)
}

/**
 * The `paths` that make each entry point of package.json `exports` (`rxpg`, `rxpg/testing`, …) resolve to its
 * source in lib/: the built `types` file, mapped from tsconfig.build.json's outDir back to its rootDir.
 * Derived, so that a new entry point is checked without a change here.
 */
export function entryPointSources(root: string): Record<string, string[]> {
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; exports: Record<string, unknown> }
  const { rootDir, outDir } = parseConfig(join(root, 'tsconfig.build.json')).options
  if (rootDir === undefined || outDir === undefined) throw new Error('tsconfig.build.json must set rootDir and outDir')
  const paths: Record<string, string[]> = {}
  for (const [subpath, target] of Object.entries(manifest.exports)) {
    const types = typeof target === 'object' && target !== null ? (target as { types?: unknown }).types : undefined
    if (typeof types !== 'string') continue // not code, such as './package.json'
    const source = join(rootDir, relative(outDir, resolve(root, types))).replace(/\.d\.ts$/, '.ts')
    if (!existsSync(source)) throw new Error(`package.json exports ${subpath} as ${types}, but its source ${source} does not exist`)
    paths[manifest.name + subpath.slice(1)] = [source]
  }
  return paths
}

function parseConfig(path: string): ts.ParsedCommandLine {
  const parsed = ts.getParsedCommandLineOfConfigFile(path, {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
      throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'))
    },
  })
  if (!parsed) throw new Error(`cannot read ${path}`)
  return parsed
}

export interface TypeCheck {
  /** Problems with the compiler options themselves, not with one block. */
  global: string[]
  /** Each block's diagnostics, located by markdown line. */
  diagnostics(block: CodeBlock): string[]
}

/**
 * Type-checks every block as its own module in one Program, with tsconfig.json's options, and the package's
 * entry points resolving to lib/. The blocks are files in memory under .tmp/, so that everything else
 * (`rxjs`, `zod`, `node:*`) resolves from node_modules as in a user's project.
 */
export function typeCheck(root: string, blocks: readonly CodeBlock[]): TypeCheck {
  const project = parseConfig(join(root, 'tsconfig.json')).options
  const options: ts.CompilerOptions = {
    ...project,
    noEmit: true,
    // The strictest setting a reader may have (the project itself leaves it off): a block must compile under it,
    // so an option a reader passes a maybe-value to must say `| undefined`.
    exactOptionalPropertyTypes: true,
    // Every block is a module of its own, even one without import or export: its names never clash with another's.
    moduleDetection: ts.ModuleDetectionKind.Force,
    paths: { ...project.paths, ...entryPointSources(root) },
  }
  const inMemory = new Map(blocks.map((block) => [join(root, '.tmp', 'code-blocks', `${block.file}.${block.line}.ts`), block]))
  const host = ts.createCompilerHost(options, true)
  const { getSourceFile, fileExists, readFile } = host
  host.getSourceFile = (fileName, languageVersionOrOptions, ...rest) => {
    const block = inMemory.get(fileName)
    return block ? ts.createSourceFile(fileName, block.source, languageVersionOrOptions, true) : getSourceFile.call(host, fileName, languageVersionOrOptions, ...rest)
  }
  host.fileExists = (fileName) => inMemory.has(fileName) || fileExists.call(host, fileName)
  host.readFile = (fileName) => inMemory.get(fileName)?.source ?? readFile.call(host, fileName)

  const program = ts.createProgram({ rootNames: [...inMemory.keys()], options, host })
  const fileOf = new Map([...inMemory].map(([fileName, block]) => [block, fileName]))
  return {
    global: [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()].map((diagnostic) => ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')),
    diagnostics(block) {
      const sourceFile = program.getSourceFile(fileOf.get(block)!)!
      return [...program.getSyntacticDiagnostics(sourceFile), ...program.getSemanticDiagnostics(sourceFile)].map((diagnostic) => located(block, diagnostic))
    },
  }
}

/** `docs/x.md:12 TS2304: Cannot find name 'share'.` and the line it is about. */
function located(block: CodeBlock, diagnostic: ts.Diagnostic): string {
  const message = `TS${diagnostic.code}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`
  if (diagnostic.file === undefined || diagnostic.start === undefined) return `${blockName(block)} ${message}`
  const { line } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start)
  const text = block.source.split('\n')[line]
  return `${block.file}:${block.markdownLines[line]} ${message}\n    ${text}`
}

/** Rewrites `<program>:13:1` in a stack trace (of `program`, the block written out to run) to the markdown line a reader sees. */
export function withMarkdownLines(output: string, program: string, block: CodeBlock): string {
  const location = new RegExp(`(?:file://)?${program.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:(\\d+)(?::\\d+)?`, 'g')
  return output.replace(location, (_whole, line: string) => `${block.file}:${block.markdownLines[Number(line) - 1] ?? '?'}`)
}
