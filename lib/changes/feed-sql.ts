/**
 * The SQL of a change feed, generated as text for migrations: the trigger function, its triggers, and what
 * the carrier needs, all idempotent (run it again after changing the spec: it converges), and the SQL that
 * removes it. Every name is a quoted identifier and every constant a quoted literal; the only SQL taken as it
 * is comes from the spec's `when` conditions, which are SQL by definition.
 *
 * See docs/changes.md for the generated text and why it is written this way.
 */
import { quoteIdentifier } from '../index.js'
import { InvalidChangeFeedError } from './errors.js'
import { FEED_FORMAT_VERSION, namesOf, resolveFeed, statementOps, type Feed, type FeedNames } from './feed.js'
import { keyJson, rowJson } from './row-json.js'
import { installCommandOf } from './install-command.js'
import { quoteLiteral } from '../identifiers.js'
import { dollarQuoted, qualifiedName } from './sql-text.js'
import type { ChangeFeedSpec, ChangeOp } from './types.js'

/** The largest NOTIFY payload PostgreSQL sends; a larger one raises an error in the writer's transaction. */
const NOTIFY_LIMIT_BYTES = 7999
/** What the function's comment starts with; the rest is the feed's spec as JSON (read back by `tableChanges`). */
export const FEED_COMMENT_PREFIX = 'rxpg change feed '

/** The SQL that installs a feed, and the SQL that removes it. */
export interface ChangeFeedSql {
  readonly install: string
  readonly drop: string
}

/**
 * Generates a feed's SQL. Pure: it never connects, so the key columns must be in the spec (`rxpg sql changes`
 * and `installChangeFeed` read the primary key from the database when they are not).
 *
 * @throws InvalidChangeFeedError for a spec that cannot be installed (and when `key` is missing).
 */
export function changeFeedSql(spec: ChangeFeedSpec): ChangeFeedSql {
  const feed = resolveFeed(spec)
  if (feed.key === undefined) {
    throw new InvalidChangeFeedError({ table: spec.table, detail: 'key is needed to generate the SQL: the columns that identify a row (its primary key)' })
  }
  return { install: installSql(feed, feed.key, namesOf(feed)), drop: dropSql(feed, namesOf(feed)) }
}

/** @internal The SQL that removes a feed: it names no key, so it needs none. */
export function changeFeedDropSql(spec: ChangeFeedSpec): string {
  const feed = resolveFeed(spec)
  return dropSql(feed, namesOf(feed))
}

/** The spec as stored in the function's comment: every field explicit. */
export function feedComment(feed: Feed): string {
  return FEED_COMMENT_PREFIX + JSON.stringify({ format: FEED_FORMAT_VERSION, ...feed })
}

function installSql(feed: Feed, key: readonly string[], names: FeedNames): string {
  const table = qualifiedName(feed.schema, feed.table)
  const fn = qualifiedName(feed.feedSchema, names.functionName)
  const parts = [
    `-- rxpg change feed ${quoteIdentifier(feed.name)} on ${table}: ${carrierSummary(feed, names)}.\n` +
      `-- Idempotent: safe to run again, also after changing the feed. The --drop variant removes it.`,
  ]
  parts.push(checkSql(feed, key, table, fn, names))
  if (feed.carrier === 'durable') parts.push(durablePrerequisites(feed, names))
  parts.push(
    `CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger\nLANGUAGE plpgsql AS ${dollarQuoted(feed.carrier === 'durable' ? durableBody(feed, key, names) : lightBody(feed, key, names), 'fn')};\n` +
      `COMMENT ON FUNCTION ${fn}() IS ${quoteLiteral(feedComment(feed))};`,
  )
  parts.push(triggersSql(feed, names, table, fn))
  // A light feed has no wake-ups: what a durable version of it made is removed, so the SQL converges.
  if (feed.carrier === 'light') parts.push(`DROP SEQUENCE IF EXISTS ${qualifiedName(feed.feedSchema, names.wakeSequence)};`)
  return parts.join('\n\n') + '\n'
}

/**
 * A statement-level trigger reads its rows from a transition table, which holds no value for a virtual generated
 * column (PostgreSQL 18): naming one there fails every INSERT and DELETE ("unexpected virtual generated column
 * reference"). Refused at install instead; a whole row (columns not listed) reads such a column as null.
 */
function virtualColumnsCheck(feed: Feed, named: readonly string[], table: string): string {
  if (statementOps(feed).length === 0 || feed.columns === null) return ''
  return `
  -- A statement-level trigger reads a transition table, which computes no virtual generated column.
  SELECT string_agg('"' || replace(a.attname, '"', '""') || '"', ', ') INTO missing
  FROM pg_attribute a WHERE a.attrelid = to_regclass(${quoteLiteral(table)}) AND a.attname = ANY (ARRAY[${named.map(quoteLiteral).join(', ')}]::text[]) AND a.attgenerated = 'v';
  IF missing IS NOT NULL THEN
    RAISE EXCEPTION USING MESSAGE = format('rxpg change feed: column %s is a virtual generated column, which a statement-level trigger cannot read from its transition table: give the feed level ''row'', or leave the column out of columns', missing);
  END IF;`
}

/**
 * Checks made before anything is changed: the function's name is not the feed of another table that still
 * exists (CREATE OR REPLACE would silently move that feed here), the table has no feed of another name or schema
 * that followed it through a rename or a move to another schema (a new feed would write every change a second
 * time, or, of the same name in the table's new schema, take that feed's triggers over and carry its changes on
 * another channel, silently), and every column the function names is in the table (else every write to the
 * table would fail once the triggers are in place).
 */
function checkSql(feed: Feed, key: readonly string[], table: string, fn: string, names: FeedNames): string {
  const named = [...new Set([...key, ...(feed.columns ?? [])])]
  const self = quoteLiteral(`${fn}()`)
  const triggerNames = (['insert', 'update', 'delete'] as const).map((op) => quoteLiteral(names.triggerNames[op])).join(', ')
  const body = `DECLARE
  installed text := obj_description(to_regprocedure(${self}), 'pg_proc');
  spec json;
  other_schema text;
  missing text;
BEGIN
  IF starts_with(installed, ${quoteLiteral(FEED_COMMENT_PREFIX)}) THEN
    spec := substr(installed, ${FEED_COMMENT_PREFIX.length + 1})::json;
    -- Another table's feed, unless that table is gone: renamed (its triggers came along, and are replaced
    -- below) or dropped.
    IF (spec ->> 'schema', spec ->> 'table') IS DISTINCT FROM (${quoteLiteral(feed.schema)}, ${quoteLiteral(feed.table)})
      AND to_regclass(format('%I.%I', spec ->> 'schema', spec ->> 'table')) IS NOT NULL THEN
      RAISE EXCEPTION USING MESSAGE = format(${quoteLiteral(`rxpg change feed: feed %s already reports changes of %I.%I; feed names are unique in a schema: give this one another name (--name)`)}, ${quoteLiteral(quoteIdentifier(feed.name))}, spec ->> 'schema', spec ->> 'table');
    END IF;
  END IF;
  -- Another feed on the table with triggers of this feed's names, or (for a new feed) one that followed the table
  -- when it was renamed or moved to another schema: that feed is to be applied again under its name and schema.
  SELECT o.nspname, o.spec INTO other_schema, spec
  FROM (
    SELECT n.nspname::text AS nspname, t.tgname,
      CASE WHEN starts_with(obj_description(p.oid, 'pg_proc'), ${quoteLiteral(FEED_COMMENT_PREFIX)}) THEN substr(obj_description(p.oid, 'pg_proc'), ${FEED_COMMENT_PREFIX.length + 1})::json END AS spec
    FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE t.tgrelid = to_regclass(${quoteLiteral(table)}) AND NOT t.tgisinternal AND p.oid IS DISTINCT FROM to_regprocedure(${self})
  ) o
  WHERE o.spec IS NOT NULL AND (o.tgname IN (${triggerNames})
    OR (installed IS NULL AND (o.spec ->> 'schema', o.spec ->> 'table') IS DISTINCT FROM (${quoteLiteral(feed.schema)}, ${quoteLiteral(feed.table)})))
  LIMIT 1;
  IF other_schema IS NOT NULL THEN
    RAISE EXCEPTION USING MESSAGE = format('rxpg change feed: %s already has feed %I of schema %I, installed on %I.%I%s: generate its SQL for the table under that feed name and schema (--name %s --feed-schema %s), which keeps its channel, and apply it; or remove it first (the same command with --drop)',
      ${quoteLiteral(table)}, spec ->> 'name', other_schema, spec ->> 'schema', spec ->> 'table',
      CASE WHEN (spec ->> 'schema', spec ->> 'table') IS DISTINCT FROM (${quoteLiteral(feed.schema)}, ${quoteLiteral(feed.table)}) THEN ' before the table was renamed or moved to another schema' ELSE '' END,
      spec ->> 'name', other_schema);
  END IF;
  SELECT string_agg('"' || replace(c.name, '"', '""') || '"', ', ') INTO missing
  FROM unnest(ARRAY[${named.map(quoteLiteral).join(', ')}]::text[]) AS c(name)
  WHERE NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = to_regclass(${quoteLiteral(table)}) AND a.attname = c.name AND a.attnum > 0 AND NOT a.attisdropped);
  IF to_regclass(${quoteLiteral(table)}) IS NOT NULL AND missing IS NOT NULL THEN
    RAISE EXCEPTION USING MESSAGE = format('rxpg change feed: column %s named by the feed is not in the table %s (key and columns name existing columns)', missing, ${quoteLiteral(table)});
  END IF;${virtualColumnsCheck(feed, named, table)}
END`
  return `-- Checked first: the feed's name is not taken by another table's feed, the table's feed is not of another name
-- or schema (a feed that followed the table through a rename or SET SCHEMA), and the columns it names exist.
DO ${dollarQuoted(body, 'check')};`
}

function carrierSummary(feed: Feed, names: FeedNames): string {
  return feed.carrier === 'durable'
    ? `changes appended to durable channel ${quoteLiteral(names.channel)} of the durable log in schema ${quoteIdentifier(feed.logSchema ?? '')}`
    : `changes NOTIFYed on channel ${quoteLiteral(names.channel)} (rows over ${NOTIFY_LIMIT_BYTES} bytes as their key only)`
}

function durablePrerequisites(feed: Feed, names: FeedNames): string {
  const log = quoteIdentifier(feed.logSchema ?? '')
  const channel = quoteLiteral(names.channel)
  const partitions = String(feed.partitions)
  const body = `BEGIN
  IF to_regclass(${quoteLiteral(`${log}.durable_log`)}) IS NULL THEN
    RAISE EXCEPTION USING MESSAGE = ${quoteLiteral(`rxpg change feed: the durable log schema ${log} is not installed; install it first (npx rxpg sql durable --schema ${feed.logSchema})`)};
  END IF;
  INSERT INTO ${log}.durable_channels (channel, partitions) VALUES (${channel}, ${partitions}) ON CONFLICT (channel) DO NOTHING;
  IF (SELECT partitions FROM ${log}.durable_channels WHERE channel = ${channel}) <> ${partitions} THEN
    RAISE EXCEPTION USING MESSAGE = ${quoteLiteral(`rxpg change feed: durable channel ${names.channel} was first used with another partition count; generate the feed with that count (--partitions)`)};
  END IF;
END`
  return `-- The durable log must be installed (npx rxpg sql durable). The feed's channel is registered with the
-- partition count the trigger places changes with (by key: one row's changes stay in one partition, in order).
DO ${dollarQuoted(body, 'check')};

-- The time (ms) of the latest wake-up, shared by all writers: at most one writing transaction per
-- ${feed.wakeWindow} ms sends a NOTIFY.
CREATE SEQUENCE IF NOT EXISTS ${qualifiedName(feed.feedSchema, names.wakeSequence)};`
}


/** `IF TG_OP = 'A' THEN … ELSIF … END IF`, or the one branch alone. */
function byOp(branches: Array<[ChangeOp, string]>, indent: string): string {
  if (branches.length === 1) return (branches[0] as [ChangeOp, string])[1]
  const last = branches.length - 1
  const lines = branches.map(([op, code], index) => {
    const head = index === 0 ? `IF TG_OP = '${op.toUpperCase()}' THEN` : index === last ? 'ELSE' : `ELSIF TG_OP = '${op.toUpperCase()}' THEN`
    return `${indent}${head}\n${indented(code, `${indent}  `)}`
  })
  return `${lines.join('\n')}\n${indent}END IF;`
}

const indented = (code: string, indent: string) =>
  code
    .split('\n')
    .map((line) => indent + line)
    .join('\n')

/**
 * A row-level call's rows as json, once: keys and listed columns are taken out of it (`rowPartsInto` says why
 * never as NEW."id").
 */
const ROW_JSON = 'new_json := to_json(NEW);\n  old_json := to_json(OLD);'

/** The variables `rowPartsInto` takes a row's columns out into: one per key column, one per listed column. */
const rowVariables = (feed: Feed, key: readonly string[]) =>
  [
    ...key.map((_, index) => `  key_${index + 1} json;`),
    ...(feed.columns === null ? [] : ['  new_row json;', '  old_row json;', ...feed.columns.map((_, index) => `  column_${index + 1} json;`)]),
  ].join('\n')

/**
 * True when `->` can read the json variable `row`. `->` decodes every string of the document it reads, and refuses
 * escapes that are valid `json` but no text: `\u0000` (22P05), a surrogate escape without its pair (22P02), and in
 * a database not in UTF-8 a character its encoding lacks. A row with no `\u` at all (one scan: the common row)
 * can be read, and in UTF-8 one without `\u0000` and without surrogate escapes (paired ones included: a pair
 * decodes, but an expression that tells it from a lone one is fooled by an escaped backslash before it, and a row
 * it let through would fail the writer).
 */
const readableByArrow = (row: string) =>
  `strpos(${row}::text, ${quoteLiteral('\\u')}) = 0 OR (getdatabaseencoding() = 'UTF8' AND ${row}::text !~ ${quoteLiteral('\\\\u(0000|[dD][89a-fA-F])')})`

/** `json_build_object('a', <variable of a>, …)`. */
const objectOf = (columns: readonly string[], variables: readonly string[]) =>
  `json_build_object(${columns.map((column, index) => `${quoteLiteral(column)}, ${variables[index]}`).join(', ')})`

/** What a row-level branch takes out of one row (NEW or OLD). */
interface RowParts {
  /** Statements that leave the row's key in the key's target, and the carried row in `row`. */
  readonly statements: string
  /** The carried row: the row's json as it is, or the object of the listed columns. */
  readonly row: string
}

/**
 * The key of the row `side` into `keyTarget` (a json object, or its text when `keyAsText`), and with `carried`, for
 * a feed of listed columns, their object into `new_row` or `old_row`.
 *
 * Columns are taken out of the row's json (`new_json -> 'id'`), never as `NEW."id"`: PL/pgSQL plans an expression
 * once per session with the types of the fields it reads, and after a migration changed a column's type (int to
 * bigint) such a plan fails the writer's statement (42804), while the row's json keeps working. A row whose json
 * `->` cannot read (`readableByArrow`: a `json` value holding `\u0000` or a lone surrogate escape, which the
 * writer wrote legitimately) has its columns read from the row itself by a statement parsed for this call
 * (EXECUTE, so no plan outlives a type change), which costs more but never fails the writer: without it, such a
 * write failed (a new user's trial). Its EXCEPTION block (a subtransaction) is entered on that path only: the
 * common row pays one `strpos`.
 *
 * Each column is checked: a field that is not there is SQL NULL (a null value is json 'null'; the EXECUTE branch
 * makes a column it cannot find null), so a column renamed or dropped since the feed's SQL was applied fails the
 * write, saying what to do, as the statement-level triggers fail by naming it. Without the check an update was
 * logged with a null key, in another partition than the row's earlier changes, and a listed column carried as null.
 */
function rowPartsInto(feed: Feed, key: readonly string[], side: 'new' | 'old', keyTarget: string, keyAsText: boolean, carried: boolean): RowParts {
  const json = `${side}_json`
  const listed = carried && feed.columns !== null ? feed.columns : []
  const keyVariables = key.map((_, index) => `key_${index + 1}`)
  const columnVariables = listed.map((_, index) => `column_${index + 1}`)
  const taken: Array<[variable: string, column: string]> = [
    ...key.map((column, index): [string, string] => [keyVariables[index] as string, column]),
    ...listed.map((column, index): [string, string] => [columnVariables[index] as string, column]),
  ]
  const read = `SELECT ${taken.map(([, column]) => `coalesce(to_json(($1).${quoteIdentifier(column)}), 'null')`).join(', ')}`
  const statements = [
    `IF ${readableByArrow(json)} THEN`,
    ...taken.map(([variable, column]) => `  ${variable} := ${json} -> ${quoteLiteral(column)};`),
    'ELSE',
    `  -- An escape that -> may refuse (\\u0000, a lone surrogate): read from ${side.toUpperCase()}; a missing column is null.`,
    '  BEGIN',
    `    EXECUTE ${quoteLiteral(read)} INTO ${taken.map(([variable]) => variable).join(', ')} USING ${side.toUpperCase()};`,
    '  EXCEPTION WHEN undefined_column THEN',
    ...taken.map(([variable]) => `    ${variable} := NULL;`),
    '  END;',
    'END IF;',
    missingColumnCheck(feed, key, keyVariables, 'key column'),
    `${keyTarget} := ${objectOf(key, keyVariables)}${keyAsText ? '::text' : ''};`,
  ]
  if (listed.length > 0) statements.push(missingColumnCheck(feed, listed, columnVariables, 'column'), `${side}_row := ${objectOf(listed, columnVariables)};`)
  return { statements: statements.join('\n'), row: feed.columns === null ? json : `${side}_row` }
}

/**
 * Fails the write when one of `variables` (the columns' values) is SQL NULL: the column is not in the row. The
 * message names the columns the table does not have (read from the catalog, on this path only).
 */
function missingColumnCheck(feed: Feed, columns: readonly string[], variables: readonly string[], what: string): string {
  const before = `rxpg change feed ${quoteIdentifier(feed.name)}: `
  const after = ` not in the row of ${qualifiedName(feed.schema, feed.table)} (renamed or dropped since the feed's SQL was applied): generate the feed's SQL again with the table's column names and apply it in the same migration (${installCommandOf({ ...feed, key: undefined })})`
  const all = quoteLiteral(columns.map(quoteIdentifier).join(', '))
  return [
    `IF ${variables.map((variable) => `${variable} IS NULL`).join(' OR ')} THEN`,
    `  RAISE EXCEPTION USING ERRCODE = 'undefined_column', MESSAGE = (`,
    `    SELECT ${quoteLiteral(before)} || format('%s it names (%s) %s', CASE WHEN count(*) > 1 THEN '${what}s' ELSE 'a ${what}' END,`,
    `      coalesce(string_agg('"' || replace(k.name, '"', '""') || '"', ', ' ORDER BY k.n), ${all}), CASE WHEN count(*) > 1 THEN 'are' ELSE 'is' END) || ${quoteLiteral(after)}`,
    `    FROM unnest(ARRAY[${columns.map(quoteLiteral).join(', ')}]::text[]) WITH ORDINALITY AS k(name, n)`,
    `    WHERE NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = TG_RELID AND a.attname = k.name AND a.attnum > 0 AND NOT a.attisdropped));`,
    'END IF;',
  ].join('\n')
}

function durableBody(feed: Feed, key: readonly string[], names: FeedNames): string {
  const log = `${quoteIdentifier(feed.logSchema ?? '')}.durable_log`
  const channel = quoteLiteral(names.channel)
  const part = (expression: string) => `(hashtext(${expression}) & 2147483647) % ${feed.partitions}`
  const sections: string[] = []

  const byStatement = statementOps(feed)
  if (byStatement.length > 0) {
    const branch = (op: ChangeOp): [ChangeOp, string] => {
      const alias = op === 'insert' ? 'new' : 'old'
      const rowSide = op === 'insert' ? `'new', ${rowJson(feed, 'new')}` : feed.old === 'row' ? `'old', ${rowJson(feed, 'old')}` : ''
      // No condition here: an op with a `when` is row-level (statementOps), its condition the trigger's WHEN.
      return [
        op,
        `INSERT INTO ${log} (channel, part, key, value)
SELECT ${channel}, ${part('c.change_key')}, c.change_key, c.change_value
FROM (
  SELECT ${keyJson(key, alias)}::text AS change_key,
    json_build_object('op', '${op}'${rowSide === '' ? '' : `, ${rowSide}`}) AS change_value
  FROM rxpg_${alias}_rows AS ${alias}
) c;`,
      ]
    }
    sections.push(`IF TG_LEVEL = 'STATEMENT' THEN
  -- Every row of the statement, from its transition table, in one INSERT.
${indented(byOp(byStatement.map(branch), ''), '  ')}
  -- A statement that changed no row wakes nobody.
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;`)
  }

  // Every op has a row-level branch: inserts and deletes too, for the row-level triggers the SQL makes on a
  // partition or in an inheritance tree (decided when it is applied: triggersSql).
  const byRow = feed.ops
  {
    const carriesOld = feed.old === 'row'
    const branch = (op: ChangeOp): [ChangeOp, string] => {
      if (op === 'insert') {
        const inserted = rowPartsInto(feed, key, 'new', 'change_key', true, true)
        return [op, `${inserted.statements}\nchange_value := json_build_object('op', 'insert', 'new', ${inserted.row});`]
      }
      if (op === 'delete') {
        const deleted = rowPartsInto(feed, key, 'old', 'change_key', true, carriesOld)
        return [op, `${deleted.statements}\nchange_value := json_build_object('op', 'delete'${carriesOld ? `, 'old', ${deleted.row}` : ''});`]
      }
      const [after, before] = [rowPartsInto(feed, key, 'new', 'change_key', true, true), rowPartsInto(feed, key, 'old', 'previous_key', true, carriesOld)]
      const rows = `'new', ${after.row}${carriesOld ? `, 'old', ${before.row}` : ''}`
      return [
        op,
        `${after.statements}
${before.statements}
IF previous_key = change_key THEN
  change_value := json_build_object('op', 'update', ${rows});
ELSE
  change_value := json_build_object('op', 'update', ${rows}, 'previousKey', previous_key::json);
END IF;`,
      ]
    }
    const rowPart = `  ${ROW_JSON}
${indented(byOp(byRow.map(branch), ''), '  ')}
  INSERT INTO ${log} (channel, part, key, value)
  VALUES (${channel}, ${part('change_key')}, change_key, change_value);`
    sections.push(byStatement.length > 0 ? `ELSE\n${rowPart}\nEND IF;` : rowPart.replace(/^ {2}/gm, ''))
  }

  const sequence = quoteLiteral(qualifiedName(feed.feedSchema, names.wakeSequence))
  const known = quoteLiteral(names.wakeSetting)
  return `${byStatement.length > 0 ? '-- Statement-level calls (inserts and deletes) append every row of the statement at once; row-level calls one row\n-- (updates, and on a partition or in an inheritance tree inserts and deletes too).\n' : ''}#variable_conflict use_column
DECLARE
  change_key text;
  previous_key text;
${rowVariables(feed, key)}
  change_value json;
  new_json json;
  old_json json;
  now_ms bigint;
  last_wake bigint;
BEGIN
${indented(sections.join('\n'), '  ')}
  -- Wake readers: the first writer after ${feed.wakeWindow} ms without a wake-up NOTIFYs (two at once may both:
  -- harmless). Each session remembers the latest wake-up it knows of, and reads the sequence only after it.
  now_ms := floor(date_part('epoch', clock_timestamp()) * 1000);
  IF now_ms - coalesce(nullif(current_setting(${known}, true), ''), '0')::bigint >= ${feed.wakeWindow} THEN
    last_wake := coalesce(pg_sequence_last_value(${sequence}::regclass), 0);
    IF now_ms - last_wake >= ${feed.wakeWindow} THEN
      PERFORM setval(${sequence}::regclass, now_ms);
      PERFORM pg_notify(${quoteLiteral(names.wakeChannel)}, ${channel});
      last_wake := now_ms;
    END IF;
    PERFORM set_config(${known}, last_wake::text, false);
  END IF;
  RETURN NULL;
END`
}

function lightBody(feed: Feed, key: readonly string[], names: FeedNames): string {
  const carriesOld = feed.old === 'row'
  // 'n' numbers the changes of a transaction: PostgreSQL sends identical payloads of one transaction once, and
  // two changes can be identical to the letter (the same row set back and forth in one statement_timestamp()).
  const tail = `'at', statement_timestamp(), 'n', change_number`
  const branch = (op: ChangeOp): [ChangeOp, string] => {
    if (op === 'insert') {
      const inserted = rowPartsInto(feed, key, 'new', 'change_key', false, true)
      return [op, `${inserted.statements}\npayload := json_build_object('op', 'insert', 'key', change_key, 'new', ${inserted.row}, ${tail})::text;`]
    }
    if (op === 'delete') {
      const deleted = rowPartsInto(feed, key, 'old', 'change_key', false, carriesOld)
      return [op, `${deleted.statements}\npayload := json_build_object('op', 'delete', 'key', change_key${carriesOld ? `, 'old', ${deleted.row}` : ''}, ${tail})::text;`]
    }
    const [after, before] = [rowPartsInto(feed, key, 'new', 'change_key', false, true), rowPartsInto(feed, key, 'old', 'previous_key', false, carriesOld)]
    const rows = `'new', ${after.row}${carriesOld ? `, 'old', ${before.row}` : ''}`
    return [
      op,
      `${after.statements}
${before.statements}
IF previous_key::text = change_key::text THEN
  payload := json_build_object('op', 'update', 'key', change_key, ${rows}, ${tail})::text;
ELSE
  payload := json_build_object('op', 'update', 'key', change_key, 'previousKey', previous_key, ${rows}, ${tail})::text;
END IF;`,
    ]
  }
  const counter = quoteLiteral(names.numberSetting)
  return `DECLARE
  change_key json;
  previous_key json;
${rowVariables(feed, key)}
  payload text;
  new_json json;
  old_json json;
  change_number bigint;
BEGIN
  ${ROW_JSON}
  change_number := coalesce(nullif(current_setting(${counter}, true), ''), '0')::bigint + 1;
  PERFORM set_config(${counter}, change_number::text, true);
${indented(byOp(feed.ops.map(branch), ''), '  ')}
  -- A notification holds at most ${NOTIFY_LIMIT_BYTES} bytes, and a larger one would abort this transaction: then only
  -- the key is sent (the reader reads the row), and when even the key is too large, only the operation.
  IF octet_length(payload) > ${NOTIFY_LIMIT_BYTES} THEN
    payload := json_build_object('op', lower(TG_OP), 'key', change_key, 'at', statement_timestamp(), 'n', change_number, 'overflow', true)::text;
    IF octet_length(payload) > ${NOTIFY_LIMIT_BYTES} THEN
      payload := json_build_object('op', lower(TG_OP), 'at', statement_timestamp(), 'n', change_number, 'overflow', 'no-key')::text;
    END IF;
  END IF;
  PERFORM pg_notify(${quoteLiteral(names.channel)}, payload);
  RETURN NULL;
END`
}

function triggersSql(feed: Feed, names: FeedNames, table: string, fn: string): string {
  const byStatement = statementOps(feed)
  const create = (op: ChangeOp, level: 'statement' | 'row') => {
    const head = `CREATE TRIGGER ${quoteIdentifier(names.triggerNames[op])} AFTER ${op.toUpperCase()} ON ${table}`
    if (level === 'statement') return `${head}\n  REFERENCING ${op === 'insert' ? 'NEW TABLE AS rxpg_new_rows' : 'OLD TABLE AS rxpg_old_rows'} FOR EACH STATEMENT EXECUTE FUNCTION ${fn}();`
    const conditions = [op === 'update' && feed.skipUnchangedUpdates ? unchangedTest(feed) : undefined, feed.when[op]].filter((c): c is string => c !== undefined)
    const when = conditions.length === 0 ? '' : ` WHEN (${conditions.map((c) => `(${c})`).join(' AND ')})`
    return `${head}\n  FOR EACH ROW${when} EXECUTE FUNCTION ${fn}();`
  }
  // A partitioned table's row triggers are made on its partitions, where an UPDATE that moves a row to another
  // partition fires no UPDATE trigger (PostgreSQL runs it as a DELETE and an INSERT), and its statement-level
  // triggers miss the statements that name a partition: each partition gets a feed of its own.
  const statements = [
    `IF (SELECT c.relkind FROM pg_class c WHERE c.oid = to_regclass(${quoteLiteral(table)})) = 'p' THEN
  RAISE EXCEPTION USING MESSAGE = ${quoteLiteral(`rxpg change feed: ${table} is a partitioned table, where an UPDATE that moves a row to another partition fires no UPDATE trigger and statement-level triggers miss the statements that name a partition; give each of its partitions a feed of its own`)};
END IF;`,
    // First, so that the table is locked (DROP TRIGGER takes an ACCESS EXCLUSIVE lock) before the catalog is read.
    ...(['insert', 'update', 'delete'] as const).map((op) => `DROP TRIGGER IF EXISTS ${quoteIdentifier(names.triggerNames[op])} ON ${table};`),
  ]
  if (byStatement.length > 0) {
    statements.push(`-- Statement-level triggers fire only for statements that name their table, and a parent's transition tables hold
-- its children's rows: on a partition, or a table with an inheritance parent or children, inserts and deletes are
-- row-level too.
IF EXISTS (SELECT 1 FROM pg_inherits i WHERE to_regclass(${quoteLiteral(table)}) IN (i.inhrelid, i.inhparent)) THEN
${indented(byStatement.map((op) => create(op, 'row')).join('\n'), '  ')}
ELSE
${indented(byStatement.map((op) => create(op, 'statement')).join('\n'), '  ')}
END IF;`)
  }
  for (const op of feed.ops) if (!byStatement.includes(op)) statements.push(create(op, 'row'))
  return `-- The triggers, replaced in one statement (no write goes unseen in between); those of ops the feed does not
-- report are dropped.
DO ${dollarQuoted(`BEGIN\n${indented(statements.join('\n'), '  ')}\nEND`, 'triggers')};`
}

/** True when an update changed a carried column or the key (compared byte for byte: any type, no equality operator needed). */
function unchangedTest(feed: Feed): string {
  if (feed.columns === null) return 'OLD.* *<> NEW.*'
  const compared = [...new Set([...feed.columns, ...(feed.key ?? [])])].map(quoteIdentifier)
  // Cast to record: two bare row constructors would be compared column by column, with each type's own operator.
  return `ROW(${compared.map((c) => `OLD.${c}`).join(', ')})::record *<> ROW(${compared.map((c) => `NEW.${c}`).join(', ')})::record`
}

function dropSql(feed: Feed, names: FeedNames): string {
  const table = qualifiedName(feed.schema, feed.table)
  const drops = (['insert', 'update', 'delete'] as const).map((op) => `DROP TRIGGER IF EXISTS ${quoteIdentifier(names.triggerNames[op])} ON ${table};`)
  return `-- Removes rxpg change feed ${quoteIdentifier(feed.name)} on ${table}. Idempotent. Changes already in the durable log stay
-- there until its retention drops them.
DO ${dollarQuoted(`BEGIN\n  IF to_regclass(${quoteLiteral(table)}) IS NOT NULL THEN\n${indented(drops.join('\n'), '    ')}\n  END IF;\nEND`, 'drop')};
DROP FUNCTION IF EXISTS ${qualifiedName(feed.feedSchema, names.functionName)}();
DROP SEQUENCE IF EXISTS ${qualifiedName(feed.feedSchema, names.wakeSequence)};
`
}
