import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type BrowserContext } from 'playwright-core'

/** Debian's chromium package (installed by .ci/run as root when missing); RXPG_CHROMIUM names another. */
export const CHROMIUM_PATH = process.env.RXPG_CHROMIUM ?? '/usr/bin/chromium'

/** Why the Chromium specs cannot run here, or undefined when they can. */
export function chromiumMissing(): string | undefined {
  if (existsSync(CHROMIUM_PATH)) return undefined
  return `Chromium is not installed at ${CHROMIUM_PATH}: the browser specs are SKIPPED. Install it with \`apt-get install -y chromium\` (.ci/run does so as root) or set RXPG_CHROMIUM.`
}

/**
 * Headless Chromium with a fresh profile. The background-networking flags matter here: without them Chromium
 * opens connections of its own that this machine's closed network refuses.
 */
export async function launchChromium(): Promise<{ readonly context: BrowserContext; close(): Promise<void> }> {
  const profile = await mkdtemp(join(tmpdir(), 'rxpg-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
  return {
    context,
    async close() {
      await context.close()
      await rm(profile, { recursive: true, force: true })
    },
  }
}
