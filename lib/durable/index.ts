// rxpg/durable: durable channels. An append-only log with resume tokens, replay without gaps in commit
// order, and exactly-once consumer groups, built on a PgListener (wake-ups) and a pg.Pool (the tables).
// See docs/durable.md.

export { createDurableLog } from './durable-log.js'
export { durableSchemaSql, DURABLE_SCHEMA_VERSION, DEFAULT_SCHEMA } from './schema-sql.js'
export {
  AppendFailedError,
  CursorExpiredError,
  DurableLogClosedError,
  DurableQueryFailedError,
  DurableSchemaMissingError,
  InvalidDurableValueError,
  InvalidTokenError,
  HandlerEndedTransactionError,
  StaleAckError,
  UnsupportedServerError,
  type InvalidTokenReason,
  type QueryFailureInfo,
} from './errors.js'
export { validMessages } from './valid-messages.js'
export { coalesceWakes } from './coalesce-wakes.js'
export { detectStalls, type HorizonSample, type StallEvent } from './detect-stalls.js'
export type { ConsumerEvent, ConsumerStats } from './consumer.js'
export type {
  AppendOptions,
  BatchHandler,
  ConsumeOptions,
  DeadLetter,
  DeadLetterOptions,
  DurableAppend,
  DurableBatch,
  DurableConsumer,
  GroupLag,
  PartitionLag,
  DurableLog,
  DurableLogOptions,
  DurableMessage,
  DurableStall,
  FetchOptions,
  HorizonHolder,
  IterateOptions,
  ReadOptions,
  RetentionOptions,
  StallOptions,
  StartPosition,
} from './types.js'
