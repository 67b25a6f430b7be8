/**
 * The order as the server writes it and the page reads it: one schema, imported by both sides (it holds no
 * server code, so the page's bundle stays free of Node).
 */
import { z } from 'zod'

export const Order = z.object({ id: z.number().int(), item: z.string().min(1), placedAt: z.string() })
export type Order = z.infer<typeof Order>

/** The channel's name, in the durable log and on the SSE stream. */
export const ORDERS = 'orders'

/** What `GET /api/orders` answers: every order, and the position the stream continues from. */
export interface OrdersSnapshot {
  readonly orders: readonly Order[]
  readonly token: string
}
