/**
 * The check that rxpg/browser stays free of Node, and its size in a bundle.
 *
 * lib/browser/index.ts is bundled by esbuild for the browser platform, minified, with rxjs left out (a peer
 * dependency the application bundles anyway) and nothing else: every module it reaches, eventsource-parser
 * and rxpg's own shared modules included, is in the bundle. The bundle fails when anything reaches `pg` or a
 * Node module (esbuild cannot resolve `node:*` for the browser), and the metafile is checked again by name.
 *
 *   npx tsx support/browser-bundle.ts            prints the sizes (min, min+gzip), with and without rxjs
 *   npx tsx support/browser-bundle.ts --check    the same, and exits 1 when the check fails (npm run build)
 */
import { build, type Metafile } from 'esbuild'
import { builtinModules } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
export const BROWSER_ENTRY = join(root, 'lib/browser/index.ts')

export interface BrowserBundle {
  readonly minified: number
  readonly gzipped: number
  /** Every input file of the bundle, relative to the repository. */
  readonly inputs: readonly string[]
  /** Inputs or imports that are Node-only (`pg`, `node:*`, a Node built-in), by name. */
  readonly nodeOnly: readonly string[]
}

/** Bundles rxpg/browser (`withRxjs`: the rxjs parts it uses too, tree-shaken; `entry`: another module, for the check's own spec) and measures it. */
export async function browserBundle({ withRxjs = false, entry = BROWSER_ENTRY }: { withRxjs?: boolean; entry?: string } = {}): Promise<BrowserBundle> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    metafile: true,
    logLevel: 'silent',
    external: withRxjs ? [] : ['rxjs'],
  })
  const code = result.outputFiles[0]!.contents
  const inputs = Object.keys(result.metafile.inputs)
  return { minified: code.byteLength, gzipped: gzipSync(code, { level: 9 }).byteLength, inputs, nodeOnly: nodeOnlyOf(result.metafile) }
}

const NODE_BUILTINS = new Set(builtinModules)

function nodeOnlyOf(metafile: Metafile): string[] {
  const found = new Set<string>()
  for (const [file, input] of Object.entries(metafile.inputs)) {
    if (/(^|\/)node_modules\/pg(-[a-z]+)?\//.test(file)) found.add(file)
    for (const imported of input.imports) {
      if (imported.path.startsWith('node:') || NODE_BUILTINS.has(imported.path) || imported.path === 'pg') found.add(`${file} imports ${imported.path}`)
    }
  }
  return [...found]
}

const kB = (bytes: number) => `${(bytes / 1000).toFixed(2)} kB`

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    const own = await browserBundle()
    const whole = await browserBundle({ withRxjs: true })
    console.log(`rxpg/browser (rxjs external): ${kB(own.minified)} min, ${kB(own.gzipped)} min+gzip, ${own.inputs.length} modules`)
    console.log(`rxpg/browser with the rxjs parts it uses: ${kB(whole.minified)} min, ${kB(whole.gzipped)} min+gzip`)
    if (own.nodeOnly.length > 0) {
      console.error(`rxpg/browser reaches Node-only code:\n  ${own.nodeOnly.join('\n  ')}`)
      process.exit(1)
    }
  } catch (error) {
    // esbuild fails to resolve a Node module for the browser platform: that is the check failing.
    console.error(`rxpg/browser does not bundle for the browser (a Node module or pg is imported?):\n${error instanceof Error ? error.message : String(error)}`)
    process.exit(1)
  }
}
