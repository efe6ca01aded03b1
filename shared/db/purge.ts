import { DeleteCommand, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { tableName } from '../config.ts';
import { JobState, TERMINAL } from '../core/job/job.ts';
import { PILOT_ENDED } from '../core/pilot/pilot.ts';
import {
  decodePurgeCursor,
  encodePurgeCursor,
  firstCursor,
  type PurgeBody,
  type PurgeCursor,
  type PurgePage,
  zeroCounts,
} from '../core/purge/purge.ts';
import { log } from '../log.ts';
import { db } from './client.ts';
import { isConditionFailed } from './conditions.ts';
import { jobsInState } from './job-transitions.ts';
import { StatsDelta } from './stats.ts';

/** Ended job states, in a fixed order (the cursor counts through them). */
const ENDED_JOBS: readonly JobState[] = JobState.options.filter((s) => TERMINAL.has(s));
const ENDED_WORKFLOWS = ['finished', 'failed', 'cancelled'] as const;
/** A call stops early after this long, well inside the function's timeout. */
const TIME_BUDGET_MS = 15_000;

type Key = Record<string, string | number>;
type Item = Record<string, unknown>;

interface Step {
  examined: number;
  next?: Key;
}

/** Deletes one item if it is still as seen; false when it changed or went meanwhile. */
async function deleteIf(
  table: string,
  id: string,
  cond: string,
  names: Record<string, string>,
  values: Record<string, unknown>,
): Promise<boolean> {
  try {
    await db().send(
      new DeleteCommand({
        TableName: table,
        Key: { id },
        ConditionExpression: cond,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      }),
    );
    return true;
  } catch (err) {
    if (isConditionFailed(err)) return false;
    throw err;
  }
}

/**
 * One page of purging, at most `limit` items examined: ended standalone jobs (by the byState
 * index, never a scan of the jobs table), ended workflows whose jobs have all ended before the
 * cutoff (with those jobs), ended pilots, and registered files that are not being processed.
 * Every delete is conditional on the item being as it was seen, so a job, pilot or file that
 * changed meanwhile is left alone; queued and in-flight jobs and live pilots are never read as
 * candidates. The answer's cursor continues the same purge (same cutoff).
 */
export async function purgePage(body: PurgeBody, nowMs = Date.now()): Promise<PurgePage> {
  const c: PurgeCursor = body.cursor ? decodePurgeCursor(body.cursor, nowMs) : firstCursor(body, nowMs);
  const page: PurgePage = {
    dryRun: body.dryRun,
    cutoff: c.cutoff,
    removed: zeroCounts(),
    kept: { workflows: 0 },
    examined: 0,
  };
  const stats = new StatsDelta();
  const until = Date.now() + TIME_BUDGET_MS;
  const dry = body.dryRun;

  const jobsStep = async (budget: number): Promise<Step> => {
    const state = ENDED_JOBS[c.sub]!;
    // Workflow jobs go with their workflow (a running workflow still reads its ended jobs).
    const r = await jobsInState(state, {
      before: c.cutoff,
      notInWorkflow: true,
      attributes: ['id', 'state', 'stateAt'],
      limit: budget,
      startKey: c.key,
      onePage: true,
    });
    for (const it of r.items as Item[]) {
      const ok =
        dry ||
        (await deleteIf(
          tableName('jobs'),
          String(it.id),
          '#s = :s AND stateAt = :at',
          { '#s': 'state' },
          { ':s': state, ':at': it.stateAt },
        ));
      if (ok) page.removed.jobs++;
    }
    return { examined: r.scanned, next: r.next as Key | undefined };
  };

  const workflowsStep = async (budget: number): Promise<Step> => {
    const r = await db().send(
      new ScanCommand({
        TableName: tableName('workflows'),
        FilterExpression: '#s IN (:f, :fa, :ca) AND endedAt < :c',
        ProjectionExpression: 'id, #s, endedAt',
        ExpressionAttributeNames: { '#s': 'state' },
        ExpressionAttributeValues: {
          ':f': ENDED_WORKFLOWS[0],
          ':fa': ENDED_WORKFLOWS[1],
          ':ca': ENDED_WORKFLOWS[2],
          ':c': c.cutoff,
        },
        Limit: budget,
        ExclusiveStartKey: c.key,
      }),
    );
    for (const w of (r.Items ?? []) as Item[]) {
      const id = String(w.id);
      const jobs = await workflowJobs(id);
      // A failed workflow's independent branches may still run: it goes only once every job ended before the cutoff.
      const done = jobs.every(
        (j) => TERMINAL.has(j.state as JobState) && String(j.endedAt ?? j.stateAt) < c.cutoff,
      );
      if (!done) {
        page.kept.workflows++;
        continue;
      }
      if (dry) {
        page.removed.workflows++;
        page.removed.jobs += jobs.length;
        continue;
      }
      // Jobs first, the workflow last: a purge that stops half-way leaves the workflow to find again.
      let all = true;
      for (const j of jobs) {
        const ok = await deleteIf(
          tableName('jobs'),
          String(j.id),
          '#s = :s',
          { '#s': 'state' },
          { ':s': j.state },
        );
        if (ok) page.removed.jobs++;
        else all = false;
      }
      if (!all) {
        page.kept.workflows++;
        continue;
      }
      const ok = await deleteIf(tableName('workflows'), id, '#s = :s', { '#s': 'state' }, { ':s': w.state });
      if (ok) page.removed.workflows++;
    }
    return { examined: r.ScannedCount ?? 0, next: r.LastEvaluatedKey as Key | undefined };
  };

  const pilotsStep = async (budget: number): Promise<Step> => {
    const [st, to, k] = [...PILOT_ENDED];
    const r = await db().send(
      new ScanCommand({
        TableName: tableName('pilots'),
        FilterExpression: '#s IN (:st, :to, :k) AND stateAt < :c',
        ProjectionExpression: 'id, #s, stateAt',
        ExpressionAttributeNames: { '#s': 'state' },
        ExpressionAttributeValues: { ':st': st, ':to': to, ':k': k, ':c': c.cutoff },
        Limit: budget,
        ExclusiveStartKey: c.key,
      }),
    );
    for (const p of (r.Items ?? []) as Item[]) {
      const ok =
        dry ||
        (await deleteIf(
          tableName('pilots'),
          String(p.id),
          '#s = :s AND stateAt = :at',
          { '#s': 'state' },
          { ':s': p.state, ':at': p.stateAt },
        ));
      if (ok) page.removed.pilots++;
    }
    return { examined: r.ScannedCount ?? 0, next: r.LastEvaluatedKey as Key | undefined };
  };

  const dataStep = async (budget: number): Promise<Step> => {
    const r = await db().send(
      new ScanCommand({
        TableName: tableName('data'),
        // Files only (not the rules' dedupe markers), and none whose rules are still being run.
        FilterExpression: 'attribute_exists(#loc) AND registeredAt < :c AND #s <> :new',
        ProjectionExpression: 'id, #s, registeredAt',
        ExpressionAttributeNames: { '#s': 'state', '#loc': 'location' },
        ExpressionAttributeValues: { ':c': c.cutoff, ':new': 'new' },
        Limit: budget,
        ExclusiveStartKey: c.key,
      }),
    );
    for (const d of (r.Items ?? []) as Item[]) {
      const ok =
        dry ||
        (await deleteIf(tableName('data'), String(d.id), '#s = :s', { '#s': 'state' }, { ':s': d.state }));
      if (!ok) continue;
      page.removed.data++;
      // The data table has no stream: its counters are kept by whoever changes it.
      if (!dry) stats.add('count', `data#${String(d.state)}`, 'n', -1);
    }
    return { examined: r.ScannedCount ?? 0, next: r.LastEvaluatedKey as Key | undefined };
  };

  const steps = { jobs: jobsStep, workflows: workflowsStep, pilots: pilotsStep, data: dataStep };
  try {
    while (c.phase < c.what.length && page.examined < body.limit && Date.now() < until) {
      const kind = c.what[c.phase]!;
      const s = await steps[kind](body.limit - page.examined);
      page.examined += s.examined;
      if (s.next) {
        c.key = s.next;
        continue;
      }
      c.key = undefined;
      if (kind === 'jobs' && c.sub + 1 < ENDED_JOBS.length) c.sub++;
      else {
        c.phase++;
        c.sub = 0;
      }
    }
  } finally {
    if (stats.size) await stats.flush();
  }
  if (c.phase < c.what.length) {
    page.at = c.what[c.phase];
    page.cursor = encodePurgeCursor(c);
  }
  if (!dry && Object.values(page.removed).some((n) => n > 0))
    log.info('purge', { ...page.removed, cutoff: c.cutoff });
  return page;
}

/** Every job of a workflow (byWorkflow index; a DAG has at most 500 vertices). */
async function workflowJobs(id: string): Promise<Item[]> {
  const out: Item[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const r = await db().send(
      new QueryCommand({
        TableName: tableName('jobs'),
        IndexName: 'byWorkflow',
        KeyConditionExpression: 'workflowId = :w',
        ProjectionExpression: 'id, #s, stateAt, endedAt',
        ExpressionAttributeNames: { '#s': 'state' },
        ExpressionAttributeValues: { ':w': id },
        ExclusiveStartKey: start,
      }),
    );
    out.push(...((r.Items ?? []) as Item[]));
    start = r.LastEvaluatedKey;
  } while (start);
  return out;
}
