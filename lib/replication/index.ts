// rxpg/replication: change streams from PostgreSQL logical replication (pgoutput).

// Streams
export {
  changeStream,
  transactionStream,
  type ChangeStream,
  type ChangeStreamOptions,
  type ChangeStreamTableDecoders,
  type ChangeStreamTableList,
  type ReplicationStream,
  type TransactionStream,
  type TypedChange,
} from './change-stream.js'
export {
  isCheckpoint,
  type Change,
  type ChangeCommon,
  type Checkpoint,
  type DeleteChange,
  type InsertChange,
  type ReplicationFailure,
  type ReplicationMetrics,
  type ReplicationMetricsSnapshot,
  type ReplicationState,
  type ReplicationStatus,
  type Row,
  type StreamItem,
  type Transaction,
  type TruncateChange,
  type UpdateChange,
} from './types.js'

// Set-up and operations
export { dropReplication, ensureReplication, replicationSetupSql, type EnsuredReplication, type ReplicationSetup } from './setup.js'
export { readSlotStatus, type SlotStatus } from './slot-status.js'

// Errors
export {
  AcknowledgementsNotReportedError,
  ReplicationStreamClosedError,
  ChangeDecodeError,
  InvalidReplicationTokenError,
  ReplicationSetupError,
  ResumeImpossibleError,
  SlotInUseError,
  type InvalidReplicationTokenReason,
  type ReplicationSetupReason,
  type ResumeImpossibleReason,
} from './errors.js'

// The protocol port, and a drawn one for marble tests
export type {
  BeginMessage,
  ChangeMessage,
  CommitMessage,
  KeepaliveMessage,
  ReplicationMessage,
  ReplicationSession,
  ReplicationSource,
  ServerFacts,
  SlotFacts,
  StartedMessage,
  StatusUpdate,
} from './ports.js'
export { pgReplicationSource } from './pg/pg-replication-source.js'
export {
  begin,
  commit,
  insert,
  keepalive,
  remove,
  started,
  update,
  virtualReplicationSource,
  type RecordedStatus,
  type VirtualReplicationScript,
  type VirtualReplicationSourceOptions,
  type VirtualReplicationSource,
} from './virtual-replication-source.js'
