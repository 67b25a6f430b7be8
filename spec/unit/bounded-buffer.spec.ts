import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { BoundedBuffer, BufferOverflowError, type OverflowPolicy } from '../../lib/operators/bounded-buffer.js'

type Step = { readonly kind: 'push'; readonly value: number } | { readonly kind: 'shift' }

/** The buffer's meaning, written the obvious way: a plain array and the policy. */
function model(size: number, overflow: OverflowPolicy, steps: readonly Step[]) {
  const items: number[] = []
  const dropped: number[] = []
  const taken: number[] = []
  let overflowed = 0
  for (const step of steps) {
    if (step.kind === 'shift') {
      if (items.length > 0) taken.push(items.shift()!)
    } else if (items.length < size) items.push(step.value)
    else if (overflow === 'drop-newest') dropped.push(step.value)
    else if (overflow === 'drop-oldest') {
      dropped.push(items.shift()!)
      items.push(step.value)
    } else overflowed += 1
  }
  return { items, dropped, taken, overflowed }
}

const steps = fc.array(
  fc.oneof(
    fc.record({ kind: fc.constant('push' as const), value: fc.integer() }),
    fc.record({ kind: fc.constant('shift' as const) }),
  ),
  { maxLength: 300 },
)

describe('BoundedBuffer', () => {
  it('behaves like a plain array with the overflow policy, for any sequence of pushes and shifts', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.constantFrom<OverflowPolicy>('drop-oldest', 'drop-newest', 'error'), steps, (size, overflow, sequence) => {
        const dropped: number[] = []
        const buffer = new BoundedBuffer<number>('spec', { size, overflow, onDrop: (value) => void dropped.push(value) })
        const taken: number[] = []
        let overflowed = 0
        for (const step of sequence) {
          if (step.kind === 'shift') {
            if (buffer.length > 0) taken.push(buffer.shift())
          } else if (buffer.push(step.value) instanceof BufferOverflowError) overflowed += 1
        }
        const rest: number[] = []
        const expected = model(size, overflow, sequence)
        expect(buffer.length).toBe(expected.items.length)
        while (buffer.length > 0) rest.push(buffer.shift())
        expect({ items: rest, dropped, taken, overflowed }).toEqual(expected)
        expect(buffer.dropped).toBe(expected.dropped.length)
      }),
    )
  })

  it('holds no array slots before values wait, and releases them on clear', () => {
    const buffer = new BoundedBuffer<object>('spec', { size: 1_000_000 })
    expect((buffer as unknown as { items: unknown[] }).items).toHaveLength(0)
    buffer.push({})
    expect((buffer as unknown as { items: unknown[] }).items.length).toBeLessThanOrEqual(8)
    buffer.clear()
    expect(buffer.length).toBe(0)
    expect((buffer as unknown as { items: unknown[] }).items).toHaveLength(0)
  })

  it("defaults to 1000 values and the 'error' policy", () => {
    const buffer = new BoundedBuffer<number>('spec', {})
    expect([buffer.size, buffer.overflow]).toEqual([1000, 'error'])
  })
})
