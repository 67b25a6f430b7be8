// The command line says a process warning (a durable log's stall, a maintenance failure no one subscribed to)
// in one line, as every failure: not Node's own form with its --trace-warnings hint.
import { afterEach, describe, expect, it } from 'vitest'
import { sayWarningsInOneLine } from '../../lib/cli/warnings.js'
import { DurableQueryFailedError } from '../../lib/durable/index.js'

const before = process.listeners('warning')
afterEach(() => {
  process.removeAllListeners('warning')
  for (const listener of before) process.on('warning', listener)
})

describe('the command line warnings', () => {
  it('are one line each, rxpg: and the message, and nothing else', async () => {
    const lines: string[] = []
    sayWarningsInOneLine((line) => lines.push(line))
    process.emitWarning(new DurableQueryFailedError({ operation: 'maintenance', sqlState: '25006', detail: 'cannot execute UPDATE in a read-only transaction' }))
    process.emitWarning('rxpg: a plain text warning')
    await new Promise((resolve) => setImmediate(resolve))
    expect(lines).toEqual(['rxpg: Durable log maintenance failed: cannot execute UPDATE in a read-only transaction (SQLSTATE 25006)', 'rxpg: a plain text warning'])
    expect(process.listeners('warning')).toHaveLength(1)
  })
})
