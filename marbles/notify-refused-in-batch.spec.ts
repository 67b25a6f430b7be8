/**
 * A batch the server refuses because of one of its notifications (a data exception, SQLSTATE class 22: a
 * character the database's encoding has no equivalent for, a payload longer there than 7999 bytes) rolled back
 * whole: each of its notifications is sent again alone, in order, so that only the refused one fails. Any other
 * refusal fails the batch as before. One frame is 1 ms; each send commits in the frame it is made, unless drawn.
 */
import { map, of, throwError } from 'rxjs'
import { describe, expect, it } from 'vitest'
import { NotifyFailedError } from '../lib/index.js'
import { SendFailure } from '../lib/ports/index.js'
import type { OutgoingNotification } from '../lib/ports/notify-transport.js'
import { runMarbles, virtualTransport } from '../lib/testing/index.js'
import { sink } from './support/notify-sink.js'

/** What pg gives when the database cannot hold a character of the statement's parameters. */
const untranslatable = Object.assign(new Error('character with byte sequence 0xf0 0x9f 0x98 0x80 in encoding "UTF8" has no equivalent in encoding "LATIN1"'), {
  code: '22P05',
  severity: 'ERROR',
})
const payloadsOf = (batch: readonly OutgoingNotification[]) => batch.map((notification) => notification.payload).join(',')

describe('notify: a batch refused for one of its notifications', () => {
  it('sends each again alone, in order: only the refused one fails, the next batch goes as usual', () => {
    const settled: string[] = []
    runMarbles(({ cold, expectObservable, scheduler }) => {
      // Any batch holding the emoji is refused, as the server would.
      const transport = virtualTransport({ answer: (batch) => (batch.some((n) => n.payload.includes('😀')) ? throwError(() => new SendFailure('rejected', untranslatable)) : of(true)) })
      const { batcher } = sink(transport, scheduler)
      cold('(abc)-(de)').subscribe((payload) => {
        const text = payload === 'b' ? 'b 😀' : payload
        batcher.enqueue('orders', text, { resolve: () => settled.push(`${text}:sent`), reject: (error) => settled.push(`${text}:${(error as NotifyFailedError).info.sqlState}`) })
      })
      expectObservable(transport.batches$.pipe(map(payloadsOf))).toBe('(pqrs)t', { p: 'a,b 😀,c', q: 'a', r: 'b 😀', s: 'c', t: 'd,e' })
    })
    expect(settled).toEqual(['a:sent', 'b 😀:22P05', 'c:sent', 'd:sent', 'e:sent'])
  })

  it('fails the whole batch for any other refusal (not about one notification)', () => {
    const settled: string[] = []
    const tooMany = Object.assign(new Error('too many notifications in the NOTIFY queue'), { code: '54000', severity: 'ERROR' })
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const transport = virtualTransport({ answer: () => throwError(() => new SendFailure('rejected', tooMany)) })
      const { batcher } = sink(transport, scheduler)
      cold('(ab)').subscribe((payload) => batcher.enqueue('orders', payload, { resolve: () => settled.push(`${payload}:sent`), reject: (error) => settled.push(`${payload}:${(error as NotifyFailedError).info.sqlState}`) }))
      expectObservable(transport.batches$.pipe(map(payloadsOf))).toBe('p', { p: 'a,b' })
    })
    expect(settled).toEqual(['a:54000', 'b:54000'])
  })
})
