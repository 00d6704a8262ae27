/**
 * Glob patterns for include/exclude, matched against '/'-separated relative paths: `*` and `?`
 * within one path segment, `**` across segments (also none), `{a,b}` alternatives, `[abc]` and
 * `[!abc]` classes. (Node's `path.matchesGlob` does the same but prints an experimental warning.)
 */

/** Compiles a glob pattern into a RegExp matching whole relative paths. */
export function globToRegExp(pattern: string): RegExp {
  const body = convert(pattern.replace(/^\.\//, ''));
  return new RegExp(`^${body}$`, 'u');
}

/** True when the path matches any of the patterns. */
export function matchesAny(path: string, patterns: readonly RegExp[]): boolean {
  return patterns.some((pattern) => pattern.test(path));
}

function convert(pattern: string): string {
  let out = '';
  for (let i = 0; i < pattern.length; i += 1) {
    const char = pattern.charAt(i);
    if (char === '*') {
      if (pattern[i + 1] === '*') {
        const atStart = i === 0 || pattern[i - 1] === '/';
        const end = i + 2;
        if (atStart && pattern[end] === '/') {
          out += '(?:[^/]*/)*'; // `**/`: any number of folders, also none
          i = end;
        } else if (atStart && end === pattern.length) {
          out += '.*'; // trailing `**`: everything below
          i = end - 1;
        } else {
          out += '[^/]*'; // `**` inside a segment acts as `*`
          i += 1;
        }
      } else {
        out += '[^/]*';
      }
    } else if (char === '?') {
      out += '[^/]';
    } else if (char === '[') {
      const close = pattern.indexOf(']', i + 2);
      if (close < 0) {
        out += '\\[';
        continue;
      }
      let set = pattern.slice(i + 1, close);
      const negate = set.startsWith('!') || set.startsWith('^');
      if (negate) set = set.slice(1);
      out += `[${negate ? '^/' : ''}${set.replace(/[\\\]]/g, '\\$&')}]`;
      i = close;
    } else if (char === '{') {
      const close = matchingBrace(pattern, i);
      if (close < 0) {
        out += '\\{';
        continue;
      }
      const alternatives = splitTopLevel(pattern.slice(i + 1, close));
      out += `(?:${alternatives.map(convert).join('|')})`;
      i = close;
    } else if (char === '\\' && i + 1 < pattern.length) {
      out += escapeRegExp(pattern.charAt(i + 1));
      i += 1;
    } else {
      out += escapeRegExp(char);
    }
  }
  return out;
}

function matchingBrace(pattern: string, open: number): number {
  let depth = 0;
  for (let i = open; i < pattern.length; i += 1) {
    if (pattern[i] === '{') depth += 1;
    else if (pattern[i] === '}') {
      depth -= 1;
      if (depth === 0) return i;
    }
  }
  return -1;
}

function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i += 1) {
    if (text[i] === '{') depth += 1;
    else if (text[i] === '}') depth -= 1;
    else if (text[i] === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
