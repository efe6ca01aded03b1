/**
 * A FilterExpression term for an attribute that must equal one value, or one of a list
 * (`#k IN (:k0, :k1)`); names and values are added to the maps the query sends.
 */
export function anyOf(
  attr: string,
  value: unknown,
  names: Record<string, string>,
  values: Record<string, unknown>,
): string | undefined {
  if (value === undefined) return undefined;
  const list = Array.isArray(value) ? value : [value];
  if (!list.length) return undefined;
  names[`#${attr}`] = attr;
  if (list.length === 1) {
    values[`:${attr}`] = list[0];
    return `#${attr} = :${attr}`;
  }
  list.forEach((v, i) => {
    values[`:${attr}${i}`] = v;
  });
  return `#${attr} IN (${list.map((_, i) => `:${attr}${i}`).join(', ')})`;
}
