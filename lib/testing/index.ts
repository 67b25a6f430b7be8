// The second public entry of rxpg: "rxpg/testing", marble-testing kit for code built on rxpg.

// Running marbles
export { createMarbleScheduler, runMarbles, type AssertDeepEqual, type MarbleHelpers, type MarbleOptions } from './run-marbles.js'
export { VirtualTimeLimitError } from './virtual-time-limit.js'

// Virtual listener
export {
  createVirtualListener,
  type HotMarbles,
  type SentNotification,
  type VirtualListener,
  type VirtualListenerOptions,
  type VirtualNotification,
} from './virtual-listener.js'
export { VIRTUAL_LISTENER_PROCESS_ID, VIRTUAL_PEER_PROCESS_ID, notification } from './notification.js'

// Virtual source and transport (drive the real listener in virtual time)
export { virtualSource, type ListenBatch, type VirtualSendingOptions, type VirtualSessionScript, type VirtualSource } from './virtual-source.js'
export { VIRTUAL_SENDER_PROCESS_ID, virtualTransport, type VirtualTransport, type VirtualTransportOptions } from './virtual-transport.js'

// Comparing errors
export { comparable, errorShape, sameError, type ErrorShape } from './compare.js'
