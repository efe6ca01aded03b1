/**
 * Splits a payload string into argv the way a POSIX shell would split words, without a shell:
 * blanks separate words, '…' is literal, "…" keeps blanks and honours \" \\ \$ \` and
 * backslash-newline, a backslash outside quotes escapes the next character. No expansion of
 * variables, globs or ~ — a payload that needs those must use P3S_EXECMODE=SHELL.
 */
export function splitArgs(s: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0) throw new SyntaxError('unterminated single quote in payload');
      word += s.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (c === '"') {
      i++;
      for (; i < s.length && s[i] !== '"'; i++) {
        const d = s[i] as string;
        const next = s[i + 1];
        if (d === '\\' && next !== undefined && '"\\$`\n'.includes(next)) {
          if (next !== '\n') word += next;
          i++;
        } else word += d;
      }
      if (i >= s.length) throw new SyntaxError('unterminated double quote in payload');
      inWord = true;
    } else if (c === '\\') {
      const next = s[i + 1];
      if (next === undefined) throw new SyntaxError('payload ends with a backslash');
      if (next !== '\n') {
        word += next;
        inWord = true;
      }
      i++;
    } else if (c === ' ' || c === '\t' || c === '\n') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}
