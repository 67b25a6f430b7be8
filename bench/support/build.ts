/**
 * Compiles lib/ with tsc into a scratch directory, so the benchmark runs rxpg as users get it (plain tsc
 * output) rather than through tsx, whose esbuild transform wraps every named closure in a `__name()` call
 * (an Object.defineProperty per closure created), which costs memory and time that the published package
 * does not have. The workers import rxpg from RXPG_LIB.
 */
import { execFile } from 'node:child_process'
import { access, mkdir, rm, writeFile } from 'node:fs/promises'
import { basename, dirname, join, resolve as resolvePath, sep } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

export interface RxpgBuild {
  /** file: URL of the compiled index.js, or undefined when the sources are used through tsx. */
  readonly url: string | undefined
  readonly how: string
}

export async function buildRxpg(outDir: string, libDir = fileURLToPath(new URL('../../lib', import.meta.url))): Promise<RxpgBuild> {
  const root = fileURLToPath(new URL('../..', import.meta.url))
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
  // A config of our own that extends the build config, for this source directory and output directory.
  const config = `${outDir}.tsconfig.json`
  await mkdir(dirname(config), { recursive: true })
  await writeFile(
    config,
    JSON.stringify({
      extends: join(root, 'tsconfig.build.json'),
      compilerOptions: { rootDir: libDir, outDir, declaration: false, declarationMap: false, sourceMap: true, incremental: false },
      include: [libDir],
    }),
  )
  const args = [tsc, '-p', config, '--listEmittedFiles']
  const { output, emitted } = await new Promise<{ output: string; emitted: string[] }>((resolve) => {
    execFile(process.execPath, args, { cwd: root, timeout: 120_000, maxBuffer: 16 * 2 ** 20 }, (error, stdout, stderr) => {
      const lines = `${stdout}${stderr}`.split('\n')
      resolve({
        emitted: lines.filter((line) => line.startsWith('TSFILE: ')).map((line) => line.slice('TSFILE: '.length).trim()),
        output: error ? lines.filter((line) => line.trim() !== '' && !line.startsWith('TSFILE: ')).join('\n') || String(error) : '',
      })
    })
  })
  // Never leave compiled files anywhere but outDir (next to the sources they would shadow the .ts files).
  const strays = emitted.filter((file) => !resolvePath(file).startsWith(resolvePath(outDir) + sep))
  if (strays.length > 0) {
    await Promise.all(strays.map((file) => rm(file, { force: true })))
    throw new Error(`tsc wrote ${strays.length} file(s) outside ${outDir} (removed again), e.g. ${strays[0]}`)
  }
  const index = join(outDir, 'index.js')
  const built = await access(index).then(() => true, () => false)
  if (!built) return { url: undefined, how: `from source through tsx (tsc emitted nothing: ${output.split('\n')[0] ?? ''})` }
  const warnings = output ? ` (tsc reported: ${output.split('\n')[0]}; emitted anyway)` : ''
  return { url: pathToFileURL(index).href, how: `compiled with tsc (tsconfig.build.json) into ${outDir}${warnings}` }
}

/**
 * Exports lib/ as committed at `commit` (git archive, read-only) into `dir`, so a run measures a commit and not
 * whatever is being edited in the working tree. Returns the exported lib directory.
 */
export async function exportCommittedLib(dir: string, commit = 'HEAD'): Promise<string> {
  const root = fileURLToPath(new URL('../..', import.meta.url))
  await rm(dir, { recursive: true, force: true })
  await mkdir(dir, { recursive: true })
  await new Promise<void>((resolve, reject) => {
    execFile('sh', ['-c', `git archive --format=tar ${commit} lib | tar -x -C "${dir}"`], { cwd: root, timeout: 60_000 }, (error, _stdout, stderr) =>
      error ? reject(new Error(`git archive ${commit} lib failed: ${stderr || String(error)}`)) : resolve(),
    )
  })
  return join(dir, 'lib')
}

/** A lib/ to measure, named for the tables. */
export interface LibSource {
  readonly name: string
  readonly dir: string
}

/**
 * The libs an A/B compares: lib/ as committed (HEAD, named `HEAD`) first, then one per argument: a directory
 * holding a lib, or `--patch file.diff` (applied with `patch -p1` to a fresh export of HEAD's lib/).
 */
export async function comparedLibs(args: readonly string[], scratchDir: string): Promise<LibSource[]> {
  const sources: LibSource[] = [{ name: 'HEAD', dir: await exportCommittedLib(join(scratchDir, 'head')) }]
  for (let index = 0; index < args.length; index++) {
    const arg = args[index] as string
    if (arg === '--patch') {
      const diff = resolvePath(args[++index] ?? '')
      const dir = await exportCommittedLib(join(scratchDir, `patch-${index}`))
      await new Promise<void>((done, fail) =>
        execFile('patch', ['-p1', '-d', join(dir, '..'), '-i', diff], (error, stdout, stderr) => (error ? fail(new Error(`patch failed: ${stdout}${stderr}`)) : done())),
      )
      sources.push({ name: `HEAD + ${basename(diff)}`, dir })
    } else {
      sources.push({ name: basename(resolvePath(arg)), dir: resolvePath(arg) })
    }
  }
  return sources
}
