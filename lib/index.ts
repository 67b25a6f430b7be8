// The public entry of rxpg. Everything not re-exported here (or from rxpg/testing, rxpg/pg-listen, rxpg/ports) is
// internal.

// Listener
export { createPgListener, type PgListenerOptions } from './create-pg-listener.js'
export type { ListenerGap, ListenerState, ListenerStatus, NotificationToSend, PgListener, PgNotification } from './types.js'
export type { BackoffOptions } from './backoff.js'
export type { HealthCheckOptions } from './connection/health-check.js'
export type { NotifyOptions } from './notify/notify-batcher.js'
export type { PgConnectionConfig } from './pg/config.js'
export type { ListenerLog, ListenerLogEntry } from './debug-log.js'
export type { ListenerMetrics, MetricsRecorder, MetricsSnapshot } from './metrics.js'

// Names and limits
export { quoteIdentifier } from './identifiers.js'

// Errors
export {
  ChannelRefusedError,
  ConnectionLostError,
  ConnectionRejectedError,
  DeliveryBrokenError,
  InvalidChannelNameError,
  InvalidPayloadError,
  InvalidSinkValueError,
  ListenerClosedError,
  MAX_CHANNEL_NAME_BYTES,
  MAX_PAYLOAD_BYTES,
  NotifyFailedError,
  NotifyQueueFullError,
  PayloadTooLargeError,
  RxpgError,
  type ChannelRefusedReason,
  type ConnectionRejectedReason,
  type DeliveryBrokenReason,
  type DriverFacts,
  type InvalidChannelNameReason,
  type InvalidPayloadReason,
  type RxpgErrorCode,
} from './errors.js'

// Operators
export { decode, DecodeError, type DecodeOptions } from './operators/decode.js'
export { decodeValid, type DecodeValidOptions } from './operators/decode-valid.js'
export type { DecodeFunction, DecodedType, Decoder, Either, EitherDecoder, Left, Right, StandardSchemaV1 } from './operators/decoder.js'
export { rights } from './operators/rights.js'
export { filterRight } from './operators/filter-right.js'
export { ignoreOwnEcho } from './operators/ignore-own-echo.js'
export { heartbeat, isHeartbeat, type Heartbeat, type HeartbeatOptions } from './operators/heartbeat.js'
export { idleTimeout, IdleTimeoutError, type IdleTimeoutOptions } from './operators/idle-timeout.js'
export { takeUntilStop, sendStop, type TakeUntilStopOptions } from './operators/take-until-stop.js'
export { BufferOverflowError, type BoundedBufferOptions, type OverflowPolicy } from './operators/bounded-buffer.js'
export { consumeWith, type ConsumeWithOptions } from './operators/consume-with.js'
export { catchUpAfterGaps } from './operators/catch-up-after-gaps.js'
export { snapshotThenLive } from './operators/snapshot-then-live.js'

// Typed channels
export { defineChannel, type ListeningSide, type TypedChannel, type TypedChannelOptions } from './typed-channel.js'

// Pull bridges
export { toAsyncIterable, type PullIterator, type PullOptions } from './pull/to-async-iterable.js'
export { createPuller, type Puller } from './pull/puller.js'
