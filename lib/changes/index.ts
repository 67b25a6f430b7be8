// rxpg/changes: table change feeds from generated triggers. The SQL is generated as text for your
// migrations; changes are read as typed rows, through the durable log (any size, replayable) or through
// NOTIFY (light). See docs/changes.md.

export { tableChanges } from './table-changes.js'
export { consumeChanges } from './consume-changes.js'
export { validChanges } from './valid-changes.js'
export { changeFeedSql, type ChangeFeedSql } from './feed-sql.js'
export { changeFeedSqlFor, installChangeFeed } from './install.js'
export { changeFeedChannel } from './channel.js'
export {
  ChangeFeedNotInstalledError,
  ChangesQueryFailedError,
  ChangesUnsupportedServerError,
  InvalidChangeFeedError,
  NoPrimaryKeyError,
  type FeedNotInstalledReason,
} from './errors.js'
export type {
  ChangeCarrier,
  ChangeConditions,
  ChangeConsumerSource,
  ChangesHandler,
  ConsumeChangesOptions,
  ChangeFeedSpec,
  ChangeOp,
  ChangeSource,
  JsonRow,
  JsonValue,
  TableChange,
  TableChangesOptions,
  ValidTableChange,
} from './types.js'
