import { z } from 'zod';
import { csvOf } from '../util/csv.ts';
import { DatatypeName } from './datatype.ts';
import { LocationInput, type NormalisedLocation, Source } from './location.ts';

/**
 * A registered file (docs/design.md §3 "Data") and what its arrival triggered. The item is keyed by a
 * hash of the normalised location, so announcing the same file again finds it.
 */

/**
 * `new`: registered, rules being evaluated; `triggered`: at least one rule created work;
 * `skipped`: rules matched but sampling, a limit or dedupe kept them from creating work;
 * `unmatched`: no enabled rule matched; `failed`: creating the work failed.
 */
export const DataState = z.enum(['new', 'triggered', 'skipped', 'unmatched', 'failed']);
export type DataState = z.infer<typeof DataState>;

const TriggerOutcome = z.enum(['jobs', 'workflow', 'sampled', 'limited', 'duplicate', 'error']);
type TriggerOutcome = z.infer<typeof TriggerOutcome>;

/** What one rule did for one file. */
export interface Trigger {
  rule: string;
  outcome: TriggerOutcome;
  jobs?: string[];
  workflowId?: string;
  message?: string;
}

const MAX_FILES_PER_REGISTER = 500;

/**
 * One file announcement: `location` (or the original's `dirpath` + `name`), optional `size` in
 * bytes, `datatype` (else derived from the extension), `source` and a free `comment`.
 */
export const Announcement = z
  .strictObject({
    location: z.string().optional(),
    name: z.string().trim().min(1).max(1024).optional(),
    dirpath: z.string().trim().min(1).max(4096).optional(),
    size: z
      .union([
        z.number(),
        z.string().trim().regex(/^\d+$/, 'must be a whole number of bytes').transform(Number),
      ])
      .pipe(z.number().int('must be a whole number of bytes').min(0).max(Number.MAX_SAFE_INTEGER))
      .optional(),
    datatype: DatatypeName.optional(),
    source: Source.default('api'),
    comment: z.string().trim().max(1024).optional(),
    /** Accepted and ignored: the original dataset JSON carries them (uuids were client-made). */
    uuid: z.unknown().optional(),
    state: z.unknown().optional(),
    wf: z.unknown().optional(),
    wfuuid: z.unknown().optional(),
    targetuuid: z.unknown().optional(),
    sourceuuid: z.unknown().optional(),
    datatag: z.unknown().optional(),
    target: z.unknown().optional(),
  })
  .transform((a, ctx): FileAnnouncement => {
    let raw = a.location;
    if (raw === undefined) {
      if (!a.name || !a.dirpath) {
        ctx.addIssue({ code: 'custom', path: ['location'], message: 'give location (or dirpath and name)' });
        return z.NEVER;
      }
      raw = a.dirpath.endsWith('/') ? `${a.dirpath}${a.name}` : `${a.dirpath}/${a.name}`;
    }
    const loc = LocationInput.safeParse(raw);
    if (!loc.success) {
      ctx.addIssue({ code: 'custom', path: ['location'], message: loc.error.issues[0]!.message });
      return z.NEVER;
    }
    return {
      ...loc.data,
      size: a.size,
      datatype: a.datatype,
      source: a.source,
      comment: a.comment,
    };
  });
export type Announcement = FileAnnouncement;

/** A validated announcement: the normalised location and what is known about the file. */
export interface FileAnnouncement extends NormalisedLocation {
  size?: number;
  datatype?: string;
  source: Source;
  comment?: string;
}

/** `POST /data`: one announcement, a list, or `{ files: [...] }` (what the hook and watcher send). */
export const RegisterBody = z
  .union([
    z.array(z.unknown()).transform((files) => ({ files })),
    z.looseObject({ files: z.array(z.unknown()) }),
    z.looseObject({}).transform((one) => ({ files: [one] })),
  ])
  .pipe(
    z.strictObject({
      files: z.array(Announcement).min(1, 'give at least one file').max(MAX_FILES_PER_REGISTER),
    }),
  )
  .transform((b) => b.files);

/** A file as the API returns it. */
export interface Data {
  id: string;
  location: string;
  name: string;
  dirpath: string;
  size?: number;
  datatype?: string;
  source: Source;
  comment?: string;
  state: DataState;
  user?: string;
  registeredAt: string;
  updatedAt: string;
  /** How many times it was announced (1 = once). */
  announced: number;
  lastAnnouncedAt?: string;
  triggers?: Trigger[];
  jobIds?: string[];
}

/** The final state of a file from what its rules did. */
export function stateOf(triggers: readonly Trigger[]): DataState {
  if (!triggers.length) return 'unmatched';
  if (triggers.some((t) => t.outcome === 'jobs' || t.outcome === 'workflow')) return 'triggered';
  if (triggers.some((t) => t.outcome === 'error')) return 'failed';
  return 'skipped';
}

/** `GET /data` query. `location` looks one file up by its (normalised) location. */
export const DataListQuery = z.strictObject({
  location: LocationInput.optional(),
  state: csvOf(DataState).optional(),
  source: csvOf(Source).optional(),
  datatype: csvOf(DatatypeName).optional(),
  name: z.string().min(1).max(1024).optional(),
  since: z.iso.datetime({ offset: true }).optional(),
  until: z.iso.datetime({ offset: true }).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(2048).optional(),
});
