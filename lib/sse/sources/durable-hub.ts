import { defer, finalize, map, Observable, share, startWith, switchMap, type Subscription } from 'rxjs'
import type { DurableLog, DurableMessage } from '../../durable/types.js'
import { isPosition, type SourceEvent, type SourceItem } from '../source.js'
import type { Position } from '../../durable/position.js'
import { isAfter, positionOfToken } from './durable-token-order.js'

type Message = DurableMessage<unknown>

/** The log operations a hub uses. */
export type HubLog = Pick<DurableLog, 'read' | 'fetch'>

export interface DurableHubOptions {
  /** Most messages per catch-up page (the first pages are smaller: see FIRST_PAGE_SIZE). */
  readonly pageSize: number
  /** Live messages a catching-up stream holds while its catch-up runs; past it the catch-up reads further first. */
  readonly maxHeldWhileCatchingUp: number
}

/**
 * The first catch-up page, doubled after each page the stream takes whole, up to `pageSize`. A stream that a
 * slow client paused is opened again from its position whenever the client drains, and takes a few messages
 * before it pauses again: with full pages from the start, each opening read a whole page (500 messages of
 * 16 KB: 8 MB) for those few, and clients that did not read held hundreds of MB between them.
 */
const FIRST_PAGE_SIZE = 16

/**
 * One durable channel shared by every SSE stream of a process: a single `log.read` (one reader, whatever the
 * number of clients) fans out to the streams that are caught up, and a stream that resumes from an older token
 * catches up on its own through `log.fetch` pages before it joins.
 *
 * Why the join has no gap and no duplicate: the live reader delivers, in order, every message after the
 * position its last finished read reached. A catching-up stream subscribes to the live reader first (holding
 * what it delivers), then fetches pages; the last page's snapshot is younger than that finished read, so every
 * message the pages did not return is still to come from the live reader (or is held). The held messages at
 * or before the last page's end are dropped, the rest follow, then the live ones; the live reader may also be
 * behind the pages (they read a message before its wake-up did), so what it delivers later up to the pages' end
 * is dropped too. The live reader starts from a position fetched before any stream joins (`fetch` after 'now'),
 * so even its first read counts as finished.
 */
export class DurableHub {
  /** The last position the live reader delivered (its start, then each message's token); undefined while it is not running. */
  private latest: string | undefined
  private started: Promise<string> | undefined
  private readonly live: Observable<SourceItem<Message>>

  constructor(
    private readonly log: HubLog,
    private readonly channel: string,
    private readonly options: DurableHubOptions,
  ) {
    this.live = defer(() => {
      const start = this.log.fetch(this.channel, { after: 'now', limit: 1 }).then((page) => page.next)
      this.started = start
      return start
    }).pipe(
      switchMap((start) => {
        this.latest = start
        const startItem: SourceItem<Message> = { position: start }
        return this.log.read(this.channel, { from: start }).pipe(
          map((message): SourceItem<Message> => {
            this.latest = message.token
            return { value: message, token: message.token }
          }),
          startWith(startItem),
        )
      }),
      finalize(() => {
        this.latest = undefined
        this.started = undefined
      }),
      share(),
    )
  }

  /** A fresh start: the position live delivery stands at, then every new message. */
  join(): Observable<SourceItem<Message>> {
    return new Observable<SourceItem<Message>>((subscriber) => {
      const known = this.latest
      if (known !== undefined) subscriber.next({ position: known })
      return this.live.subscribe({
        // The start marker reaches only the streams that were waiting for it; a later joiner got `latest`.
        next: (item) => (known !== undefined && isPosition(item) ? undefined : subscriber.next(item)),
        error: (error: unknown) => subscriber.error(error),
        complete: () => subscriber.complete(),
      })
    })
  }

  /** The messages after `from` (a token, or 'earliest'), caught up through pages, then live. */
  catchUp(from: string): Observable<SourceItem<Message>> {
    return new Observable<SourceItem<Message>>((subscriber) => {
      const { pageSize, maxHeldWhileCatchingUp } = this.options
      let live: Subscription | undefined
      let held: Array<SourceEvent<Message>> = []
      let overflowed = false
      let joined = false
      /** Where the pages ended: live messages up to it were in the pages. Dropped once the live reader passed it. */
      let end: Position | undefined

      const subscribeLive = () => {
        held = []
        overflowed = false
        live = this.live.subscribe({
          next: (item) => {
            if (isPosition(item)) return
            if (joined) {
              // The live reader may still be behind the pages (it reads after its wake-up, the pages may have
              // read first): what it delivers up to the pages' end was delivered already.
              if (end !== undefined) {
                if (!isAfter(item.token!, end)) return
                end = undefined
              }
              return subscriber.next(item)
            }
            if (overflowed) return
            if (held.length < maxHeldWhileCatchingUp) held.push(item)
            else {
              // Too far behind to hold the live messages meanwhile: drop them, read further, and join later.
              overflowed = true
              held = []
            }
          },
          error: (error: unknown) => subscriber.error(error),
          complete: () => subscriber.complete(),
        })
      }

      const run = async () => {
        subscribeLive()
        // The live reader's start must be known before the first page: see the class comment.
        await this.started
        let cursor = from
        let limit = Math.min(FIRST_PAGE_SIZE, pageSize)
        for (;;) {
          const page = await this.log.fetch(this.channel, { after: cursor, limit })
          if (subscriber.closed) return
          for (const message of page.messages) {
            subscriber.next({ value: message, token: message.token })
            if (subscriber.closed) return
          }
          cursor = page.next
          if (page.messages.length >= limit) {
            limit = Math.min(limit * 2, pageSize)
            continue
          }
          if (!overflowed) break
          live?.unsubscribe()
          subscribeLive()
          // As before the first page: when this stream was the live reader's only one, the reader starts again,
          // from 'now', and what commits between a page and that start would be in neither.
          await this.started
        }
        subscriber.next({ position: cursor })
        end = positionOfToken(cursor)
        const pending = held
        held = []
        joined = true
        for (const item of pending) {
          if (subscriber.closed) return
          if (end === undefined || isAfter(item.token!, end)) {
            end = undefined
            subscriber.next(item)
          }
        }
      }

      run().catch((error: unknown) => subscriber.error(error))
      return () => live?.unsubscribe()
    })
  }
}
