// The BFF example (examples/bff) in a real headless Chromium: the page's live list through rxpg/browser, across
// a PostgreSQL restart, a server crash and a page reload, with nothing lost and nothing twice; refusals; a tab
// that stops reading, cut off with what it held bounded; and rxpg/browser in a Web Worker. Chromium is Debian's
// package (.ci/run installs it); without it these specs are skipped, loudly.
import { build } from 'esbuild'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { Subject } from 'rxjs'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPgListener } from '../../lib/index.js'
import { createDurableLog, type DurableLog } from '../../lib/durable/index.js'
import { createSseEndpoint, durableSource, liveSource } from '../../lib/sse/index.js'
import { freePort, startEmbeddedServer, type EmbeddedServer } from '../../support/embedded-server.js'
import { placeOrder } from '../../examples/bff/server.js'
import { BffProcess } from '../support/bff-process.js'
import { chromiumMissing, launchChromium } from '../support/chromium.js'
import { eventually } from '../support/database.js'
import { durableFixture, type DurableFixture } from '../support/durable.js'
import { embeddedVersion } from '../support/global-setup.js'

const missing = chromiumMissing()
if (missing !== undefined) console.warn(`\n*** ${missing}\n`)

describe.skipIf(missing !== undefined)('the BFF in Chromium', () => {
  let database: EmbeddedServer
  let bff: BffProcess
  let browser: Awaited<ReturnType<typeof launchChromium>>
  let page: Page
  /** The test's own connection to the BFF's database, to write while the BFF is down. */
  let direct: { log: DurableLog; close(): Promise<void> }
  const placed: number[] = []

  beforeAll(async () => {
    // A server of its own: this spec restarts it.
    database = await startEmbeddedServer(embeddedVersion())
    bff = new BffProcess(database.url, await freePort())
    ;[browser] = await Promise.all([launchChromium(), bff.start()])
    page = await browser.context.newPage()
    const listener = createPgListener(database.url)
    const pool = new pg.Pool({ connectionString: database.url })
    pool.on('error', () => undefined)
    const log = createDurableLog({ listener, pool })
    direct = { log, close: async () => (await log.close(), await listener.close(), await pool.end()) }
  })
  afterAll(async () => {
    await direct?.close()
    await browser?.close()
    await bff?.kill()
    await database?.destroy()
  })

  /** Places an order through the BFF's HTTP endpoint (retried while the BFF's pool replaces connections a restart broke). */
  const post = async (item: string) => {
    for (let attempt = 1; ; attempt++) {
      const response = await fetch(`${bff.url}/api/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ item }) })
      if (response.status === 201) return void placed.push(((await response.json()) as { id: number }).id)
      if (attempt >= 20) throw new Error(`POST /api/orders: ${response.status} ${await response.text()}`)
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
  }
  const shown = () => page.$$eval('#orders li', (items) => items.map((item) => Number(item.getAttribute('data-id'))))
  const status = () => page.$eval('#status', (element) => element.getAttribute('data-status') ?? '')
  /** The page lists exactly the orders placed, each once, in order. */
  const showsEveryOrderOnce = async () => {
    await eventually(async () => (await shown()).length >= placed.length, () => `the page shows ${placed.length} orders?`, 30_000)
    expect(await shown()).toEqual(placed)
  }

  it('renders orders as they are placed, whatever their text', async () => {
    await page.goto(bff.url)
    await eventually(async () => (await status()) === 'open', () => 'the stream did not open')
    const tricky = 'two\nlines, ünïcödé 🎉, "quotes" and data: x'
    for (const item of ['teapot', tricky, 'kettle']) await post(item)
    await showsEveryOrderOnce()
    const texts = await page.$$eval('#orders li', (items) => items.map((item) => item.textContent))
    expect(texts[1]).toBe(`#${placed[1]} ${tricky}`)
  })

  it('loses nothing and repeats nothing across a PostgreSQL restart', async () => {
    await post('before the restart')
    await database.stop()
    await database.start()
    for (const item of ['after the restart 1', 'after the restart 2']) await post(item)
    await showsEveryOrderOnce()
  })

  it('loses nothing and repeats nothing across a server crash, with orders placed while it is down', async () => {
    await bff.kill()
    await eventually(async () => (await status()) === 'reconnecting', () => `status ${String(status())}`)
    for (const item of ['while down 1', 'while down 2']) placed.push((await placeOrder(direct.log, item)).id)
    await bff.start()
    await post('after the crash')
    await showsEveryOrderOnce()
  })

  it('resumes after a page reload, from the position it saved', async () => {
    await post('before the reload')
    await showsEveryOrderOnce()
    const reloaded = page.reload()
    for (const item of ['during the reload 1', 'during the reload 2']) await post(item)
    await reloaded
    await post('after the reload')
    await showsEveryOrderOnce()
  })

  it('shows the refusal of a request without a credential (401) and of a user who may not read (403)', async () => {
    const other = await browser.context.newPage()
    try {
      for (const [user, code] of [['', 401], ['mallory', 403]] as const) {
        await other.goto(`${bff.url}/?user=${user}`)
        await eventually(async () => (await other.$eval('#status', (element) => element.textContent ?? '')).startsWith('refused'), () => 'not refused')
        expect(await other.$eval('#status', (element) => element.textContent)).toContain(`refused: ${code}`)
      }
    } finally {
      await other.close()
    }
  })
})

describe.skipIf(missing !== undefined)('SSE endpoints seen by Chromium itself', () => {
  let fixture: DurableFixture
  let browser: Awaited<ReturnType<typeof launchChromium>>
  beforeAll(async () => {
    ;[fixture, browser] = await Promise.all([durableFixture('sse_chromium'), launchChromium()])
  })
  afterAll(async () => {
    await browser?.close()
    await fixture?.close()
  })

  /** A blank page and an endpoint on one origin, and scripts at the paths given. */
  const serve = async (endpoint: ReturnType<typeof createSseEndpoint>, scripts: Readonly<Record<string, string>> = {}) => {
    const server = http.createServer((request, response) => {
      if (request.url?.startsWith('/events')) void endpoint.handle(request, response)
      else if (request.url !== undefined && scripts[request.url] !== undefined) response.writeHead(200, { 'content-type': 'text/javascript' }).end(scripts[request.url])
      else response.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>blank</title>')
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      /** Cuts every connection from the server side. */
      cut: () => server.closeAllConnections(),
      close: () => (server.closeAllConnections(), new Promise((resolve) => server.close(resolve))),
    }
  }

  it('runs rxpg/browser in a Web Worker (no DOM), resuming across a cut with nothing lost and nothing twice', async () => {
    const channel = `worker-${Date.now()}`
    const endpoint = createSseEndpoint({ channels: { items: durableSource(fixture.log, channel, { from: 'earliest' }) } })
    // The worker's code, bundled for the browser as an application would: rxpg/browser and rxjs, nothing else.
    const worker = await build({
      stdin: {
        contents: `
          import { fromServerSentEvents } from ${JSON.stringify(fileURLToPath(new URL('../../lib/browser/index.ts', import.meta.url)))}
          const item = (input) => (typeof input?.n === 'number' ? { _tag: 'Right', right: input } : { _tag: 'Left', left: 'not an item' })
          const events = fromServerSentEvents('/events', { channels: { items: item }, backoff: { initialDelay: 5, maxDelay: 50, jitter: 0 } })
          postMessage({ type: 'scope', document: typeof document, window: typeof window })
          events.state$.subscribe((state) => postMessage({ type: 'state', status: state.status }))
          events.subscribe((event) => postMessage(event.type === 'message' ? { type: 'message', n: event.value.n } : { type: event.type }))
        `,
        resolveDir: fileURLToPath(new URL('.', import.meta.url)),
        loader: 'js',
      },
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      write: false,
      logLevel: 'silent',
    })
    const server = await serve(endpoint, { '/worker.js': worker.outputFiles[0]!.text })
    const page = await browser.context.newPage()
    type Posted = { type: string; n?: number; status?: string; document?: string; window?: string }
    const posted = () => page.evaluate(() => (globalThis as unknown as { posted: Posted[] }).posted)
    let arrived = 0
    const numbers = async () => {
      const found = (await posted()).flatMap((message) => (message.type === 'message' ? [message.n!] : []))
      arrived = found.length
      return found
    }
    try {
      await page.goto(server.url)
      await page.evaluate(() => {
        const scope = globalThis as unknown as { posted: Posted[]; Worker: new (url: string, options: { type: string }) => { onmessage: (event: { data: Posted }) => void } }
        scope.posted = []
        new scope.Worker('/worker.js', { type: 'module' }).onmessage = (event) => void scope.posted.push(event.data)
      })
      await eventually(() => endpoint.stats().open === 1, () => 'the worker did not connect')
      for (let n = 0; n < 30; n++) {
        await fixture.log.append(channel, { n })
        if (n === 14) {
          await eventually(async () => (await numbers()).length >= 10, () => `${arrived} arrived before the cut`)
          server.cut()
        }
      }
      await eventually(async () => (await numbers()).length >= 30, () => `${arrived} of 30 arrived`, 20_000)
      expect(await numbers()).toEqual(Array.from({ length: 30 }, (_, n) => n))
      const messages = await posted()
      expect(messages[0]).toEqual({ type: 'scope', document: 'undefined', window: 'undefined' })
      expect(messages.filter((message) => message.type === 'state').map((message) => message.status)).toContain('reconnecting')
      expect(endpoint.stats().opened).toBeGreaterThanOrEqual(2)
    } finally {
      await page.close()
      await endpoint.close()
      await server.close()
    }
  })

  it("frames every payload so that Chromium's own EventSource reads it back exactly", async () => {
    const texts = new Subject<string>()
    const endpoint = createSseEndpoint({ channels: { texts: liveSource(texts) } })
    const server = await serve(endpoint)
    const page = await browser.context.newPage()
    try {
      await page.goto(server.url)
      await page.evaluate(() => {
        // Runs in the page: its own EventSource, and where it keeps what arrived.
        const page = globalThis as unknown as { got: string[]; EventSource: new (url: string) => { addEventListener(type: string, listener: (event: { data: string }) => void): void } }
        page.got = []
        new page.EventSource('/events?channel=texts').addEventListener('texts', (event) => void page.got.push(event.data))
      })
      await eventually(() => endpoint.stats().open === 1, () => 'not connected')
      const payloads = ['one line', 'two\nlines', '', ' leading space', 'ünïcödé ✓ 🎉 \u2028', 'crlf\r\nand cr\rend', '\n', 'data: not a field', ':not a comment']
      for (const payload of payloads) texts.next(payload)
      await eventually(async () => (await page.evaluate(() => (globalThis as unknown as { got: string[] }).got.length)) >= payloads.length, () => 'not all arrived')
      expect(await page.evaluate(() => (globalThis as unknown as { got: string[] }).got)).toEqual(payloads.map((payload) => payload.replace(/\r\n|\r/g, '\n')))
    } finally {
      await page.close()
      await endpoint.close()
      await server.close()
    }
  })

  it('cuts off a tab that stops reading, holding no more than the bound for it', { timeout: 60_000 }, async () => {
    const channel = `big-${Date.now()}`
    const bound = 256 * 1024
    const endpoint = createSseEndpoint({ channels: { big: durableSource(fixture.log, channel, { pageSize: 50 }) }, maxBufferedBytes: bound, drainTimeout: 1000 })
    const server = await serve(endpoint)
    const page = await browser.context.newPage()
    try {
      await page.goto(server.url)
      // The page reads its stream as fast as it comes...
      await page.evaluate(() => {
        void fetch('/events').then((response) => {
          const reader = response.body!.getReader()
          const pump = (): Promise<void> => reader.read().then(({ done }) => (done ? undefined : pump()))
          return pump()
        })
      })
      await eventually(() => endpoint.stats().open === 1, () => 'not connected')
      // ...until its code stops (paused in the debugger, as a hung tab): nothing reads the stream any more, and
      // once Chromium's and the kernel's buffers are full (a few MB) the server's writes wait. (A tab Chrome
      // freezes in the background is different: Chromium keeps buffering its responses, up to ~64 MB.)
      const cdp = await browser.context.newCDPSession(page)
      await cdp.send('Debugger.enable')
      await cdp.send('Debugger.pause')
      for (let batch = 0; batch < 40 && endpoint.stats().ended.slow === 0; batch++) {
        await fixture.log.transaction(async (client) => {
          for (let n = 0; n < 16; n++) await fixture.log.append(channel, { n, pad: 'x'.repeat(64 * 1024) }, { client })
        })
      }
      await eventually(() => endpoint.stats().ended.slow === 1, () => JSON.stringify(endpoint.stats()), 30_000)
      expect(endpoint.stats().maxHeldBytes).toBeLessThanOrEqual(bound + 70 * 1024)
      await cdp.send('Debugger.resume')
    } finally {
      await page.close()
      await endpoint.close()
      await server.close()
    }
  })

})
