// A typed durable append takes the channel's type from the channel, as `send` does: an object literal with a
// field of a literal union (z.enum) must compile, as it does for `send` (T was inferred from the literal, widened
// to string, and the call matched no overload: a new user's trial).
import { describe, expectTypeOf, it } from 'vitest'
import { z } from 'zod'
import { defineChannel } from '../../lib/index.js'
import type { DurableLog } from '../../lib/durable/index.js'

declare const log: DurableLog

describe('typed durable append', () => {
  const OrderEvent = defineChannel('order-events', z.object({ id: z.number(), status: z.enum(['placed', 'shipped']) }))

  it('takes an object literal whose field is one of a literal union', () => {
    expectTypeOf(log.append(OrderEvent, { id: 1, status: 'placed' })).toEqualTypeOf<Promise<string>>()
  })

  it('refuses a value the channel does not take', () => {
    // @ts-expect-error 'lost' is not a status
    void log.append(OrderEvent, { id: 1, status: 'lost' })
  })
})
