/**
 * Whether a session may stream, and from where: the checks that turn a misconfigured server, publication or
 * slot, or a resume token the slot cannot honour, into a typed error before anything is read.
 */
import { InvalidReplicationTokenError, ReplicationSetupError, ResumeImpossibleError, SlotInUseError } from './errors.js'
import { formatLsn, maxLsn, ZERO_LSN, type Lsn } from './lsn.js'
import type { PublicationFacts, ServerFacts } from './ports.js'
import { encodeToken, slotTag, type Position } from './position.js'

/** PostgreSQL 12: the oldest version rxpg supports. */
export const MIN_SERVER_VERSION = 120000

/** PostgreSQL 13: publications can publish a partitioned table under its own name (publish_via_partition_root). */
export const PARTITION_ROOT_SERVER_VERSION = 130000

export interface StartRequest {
  readonly slot: string
  readonly publication: string
  /** Tables the stream delivers (as `tableNameText` names them); undefined: every table of the publication. */
  readonly tables: readonly string[] | undefined
  /** The position to stream after, and the tag it must carry (that of the stream's first session, or of a token). */
  readonly resume: { readonly position: Position; readonly tag: string } | undefined
}

export interface StartPlan {
  /** The slot's tag on this server: every token of this stream carries it. */
  readonly tag: string
  /** The LSN to give START_REPLICATION (0: the slot's confirmed position). */
  readonly from: Lsn
  /** The flush position already confirmed or implied: never report less. */
  readonly floor: Lsn
}

export type StartRefusal = ReplicationSetupError | ResumeImpossibleError | SlotInUseError | InvalidReplicationTokenError

export function planStart(facts: ServerFacts, request: StartRequest): StartPlan | StartRefusal {
  const { slot: slotName, publication } = request
  const setup = (reason: ReplicationSetupError['info']['reason'], detail: string, extra: { table?: string | undefined; found?: string | undefined } = {}) =>
    new ReplicationSetupError({ reason, slot: slotName, publication, detail, ...extra })
  if (facts.serverVersion < MIN_SERVER_VERSION) {
    return setup('server-version', `server_version_num ${facts.serverVersion}`, { found: `PostgreSQL ${versionText(facts.serverVersion)}` })
  }
  if (facts.walLevel !== 'logical') return setup('wal-level', `wal_level is ${facts.walLevel}`, { found: facts.walLevel })
  const slot = facts.slot
  if (slot === undefined) return setup('slot-missing', `no slot named ${slotName}`)
  if (slot.slotType !== 'logical' || slot.plugin !== 'pgoutput') {
    const found = slot.slotType === 'logical' ? `a logical slot of plugin ${slot.plugin}` : `a ${slot.slotType} slot`
    return setup('slot-not-pgoutput', found, { found })
  }
  if (slot.database !== facts.database) return setup('slot-other-database', `the slot is in database ${slot.database}`, { found: slot.database ?? '' })
  if (slot.lost) return new ResumeImpossibleError({ reason: 'slot-lost', slot: slotName, detail: slot.lostDetail ?? 'wal_status lost' })
  const refusal = publicationRefusal(facts, request)
  if (refusal !== undefined) return refusal
  if (slot.active) {
    return new SlotInUseError({
      slot: slotName,
      detail: `replication slot "${slotName}" is active${slot.activePid === undefined ? '' : ` for PID ${slot.activePid}`}`,
      ...(slot.activePid === undefined ? {} : { activePid: slot.activePid }),
    })
  }
  const tag = slotTag(facts.systemId, facts.database, slotName)
  const confirmed = slot.confirmedFlush ?? ZERO_LSN
  const resume = request.resume
  if (resume === undefined) return { tag, from: ZERO_LSN, floor: confirmed }
  const token = encodeToken(resume.tag, resume.position)
  if (resume.tag !== tag) {
    return new InvalidReplicationTokenError({ token, reason: 'other-slot', detail: `it was issued for another slot or server than slot ${slotName} of this server (or before its database was restored elsewhere or renamed: the tag names the server, the database and the slot); if the slot is the one you meant, clear the stored position and rebuild what you derive from the tables, since what was written in between is not in it` })
  }
  const at = resume.position.resume
  const lsns = { resumeLsn: formatLsn(at), slotLsn: formatLsn(confirmed), serverLsn: formatLsn(facts.currentLsn) }
  if (at < confirmed) return new ResumeImpossibleError({ reason: 'token-behind-slot', slot: slotName, token, ...lsns })
  if (at > facts.currentLsn) return new ResumeImpossibleError({ reason: 'token-ahead-of-server', slot: slotName, token, ...lsns })
  return { tag, from: at, floor: maxLsn(confirmed, at) }
}

/**
 * What is wrong with the publication for this stream: missing, or without a table the stream delivers (one
 * missing, a partitioned table it cannot publish as such). Undefined when it serves. Checked at every start, and
 * again while streaming (`recheckInterval`).
 */
export function publicationRefusal(facts: PublicationFacts, request: Pick<StartRequest, 'slot' | 'publication' | 'tables'>): ReplicationSetupError | undefined {
  const { slot: slotName, publication } = request
  const setup = (reason: ReplicationSetupError['info']['reason'], detail: string, extra: { table?: string | undefined; found?: string | undefined } = {}) =>
    new ReplicationSetupError({ reason, slot: slotName, publication, detail, ...extra })
  if (!facts.publicationExists) return setup('publication-missing', `no publication named ${publication}`)
  const unpublished = request.tables?.find((table) => !facts.publishedTables.includes(table))
  if (unpublished !== undefined) {
    // Not "add it": there is no such table to add. A table renamed or moved to another schema stays in the
    // publication under its new name; one dropped leaves it (a trial's rename was told to ADD TABLE the old name).
    if (facts.missingTables?.includes(unpublished) === true) {
      return setup('table-missing', `no table ${unpublished} exists in database ${facts.database}`, { table: unpublished })
    }
    // pg_publication_tables lists a partitioned table's partitions, not the table, unless the publication
    // publishes via the partition root (13+); 12 cannot publish a partitioned table at all.
    if (facts.partitionedTables?.includes(unpublished) === true) {
      if (facts.serverVersion < PARTITION_ROOT_SERVER_VERSION) {
        return setup('partitioned-table-unsupported', `${unpublished} is a partitioned table`, { table: unpublished, found: `PostgreSQL ${versionText(facts.serverVersion)}` })
      }
      if (facts.publishViaPartitionRoot !== true) {
        return setup('publish-via-partition-root-off', `publication ${publication} has publish_via_partition_root = false`, { table: unpublished })
      }
    }
    return setup('table-not-published', `${unpublished} is not in publication ${publication}`, { table: unpublished })
  }
  return undefined
}

/** `server_version_num` as PostgreSQL prints the version: 110022 → 11.22, 90624 → 9.6.24. */
export function versionText(versionNum: number): string {
  if (versionNum >= 100000) return `${Math.floor(versionNum / 10000)}.${versionNum % 10000}`
  return `${Math.floor(versionNum / 10000)}.${Math.floor(versionNum / 100) % 100}.${versionNum % 100}`
}
