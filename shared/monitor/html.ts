/**
 * HTML templating for the monitor: the `html` tagged template escapes every interpolation
 * unless it is already `Html` (built by `html` itself), so user-controlled text (job names, env
 * values, payloads, vertex names) can only ever become text, never markup.
 */

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Escapes text for an HTML text node or a quoted attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** A fragment of markup that is safe to embed as is. Only `html` and `trusted` make one. */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

/** What may be interpolated: text (escaped), markup, lists of either; false/null/undefined render nothing. */
export type Child = Html | string | number | bigint | boolean | null | undefined | readonly Child[];

function render(v: Child): string {
  if (v === null || v === undefined || v === false || v === true) return '';
  if (v instanceof Html) return v.value;
  if (Array.isArray(v)) return v.map(render).join('');
  return escapeHtml(String(v));
}

/**
 * Builds markup; every `${…}` is escaped unless it is `Html`. Write attributes quoted
 * (`href="${url}"`): quotes are escaped, so a value cannot leave its attribute.
 */
export function html(strings: TemplateStringsArray, ...values: readonly Child[]): Html {
  let out = strings[0] ?? '';
  for (let i = 0; i < values.length; i++) out += render(values[i]) + (strings[i + 1] ?? '');
  return new Html(out);
}

/** Wraps markup that this code generated itself (never user input) so `html` does not escape it. */
export const trusted = (markup: string): Html => new Html(markup);

/** Joins fragments with a separator (escaped like any interpolation). */
export function join(parts: readonly Child[], sep: Child = ''): Html {
  return new Html(parts.map(render).join(render(sep)));
}

/**
 * A same-origin URL from a path and query parameters; empty and undefined parameters are left
 * out so filter URLs stay short and stable. Arrays become one comma-separated value (`state=a,b`).
 */
export function url(
  path: string,
  params: Record<string, string | number | readonly string[] | undefined | null> = {},
): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '') continue;
    if (Array.isArray(v)) {
      if (v.length) q.set(k, v.join(','));
    } else q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

/** JSON for a `<script type="application/json">` block: `<` is escaped so `</script>` cannot close it. */
export function jsonForScript(value: unknown): Html {
  return new Html(
    JSON.stringify(value)
      .replace(/</g, '\\u003c')
      .replace(/\u2028/g, '\\u2028')
      .replace(/\u2029/g, '\\u2029'),
  );
}
