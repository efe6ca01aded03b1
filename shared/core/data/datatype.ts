import { z } from 'zod';

/**
 * A datatype (p3s-original §2.4, §9.6): a name and the file extension **with** the dot, as in
 * `{"name":"TXT","ext":".txt","comment":"text"}`. Files get their datatype from their extension
 * when they are registered without one; rules and DAG edges refer to it by name.
 */
export const DatatypeName = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1–64 characters of letters, digits, _ . -');

export const Datatype = z.strictObject({
  name: DatatypeName,
  ext: z
    .string()
    .trim()
    .regex(/^\.[A-Za-z0-9_.+-]{1,31}$/, 'must be a file extension starting with a dot, e.g. .txt or .root'),
  comment: z.string().trim().max(1024).default(''),
});
export type Datatype = z.output<typeof Datatype>;

/**
 * The datatype of a file name by its extension: the longest matching `ext` wins, so `.tar.gz`
 * beats `.gz`. Case-sensitive, like the file systems the names come from.
 */
export function datatypeOf(
  name: string,
  types: readonly Pick<Datatype, 'name' | 'ext'>[],
): string | undefined {
  let best: { name: string; ext: string } | undefined;
  for (const t of types) {
    if (name.length > t.ext.length && name.endsWith(t.ext) && (!best || t.ext.length > best.ext.length))
      best = t;
  }
  return best?.name;
}
