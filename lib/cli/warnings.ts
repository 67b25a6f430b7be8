/**
 * The library's process warnings (a durable log's stall, a failure with no one subscribed to hear it), said as
 * the command line says everything else: one line on stderr, `rxpg: <message>`, in place of Node's own two-line
 * form with its `--trace-warnings` hint.
 */
export function sayWarningsInOneLine(say: (line: string) => void): void {
  process.removeAllListeners('warning')
  process.on('warning', (warning) => say(`rxpg: ${warning.message.replace(/^rxpg: /, '')}`))
}
