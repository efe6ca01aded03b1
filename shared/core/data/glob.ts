/**
 * Shell-style globs on file names: `*` and `?` (never across `/`), `[abc]`, `[!a-z]`, `{a,b}`.
 * Compiled once per distinct pattern.
 */
const cache = new Map<string, RegExp>();

function globToRegExp(glob: string): RegExp {
  const hit = cache.get(glob);
  if (hit) return hit;
  let re = '';
  let braces = 0;
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '\\' && i + 1 < glob.length) {
      re += escapeChar(glob[++i]!);
    } else if (c === '*') {
      re += '[^/]*';
    } else if (c === '?') {
      re += '[^/]';
    } else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) {
        re += '\\[';
        continue;
      }
      let body = glob.slice(i + 1, end);
      if (body.startsWith('!')) body = `^${body.slice(1)}`;
      re += `[${body.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else if (c === '{') {
      braces++;
      re += '(?:';
    } else if (c === '}' && braces > 0) {
      braces--;
      re += ')';
    } else if (c === ',' && braces > 0) {
      re += '|';
    } else {
      re += escapeChar(c);
    }
  }
  re += ')'.repeat(braces);
  const out = new RegExp(`^${re}$`);
  if (cache.size > 1000) cache.clear();
  cache.set(glob, out);
  return out;
}

const escapeChar = (c: string) => c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** Whether `name` matches the glob. */
export const globMatches = (glob: string, name: string): boolean => globToRegExp(glob).test(name);
