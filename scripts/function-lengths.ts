// The longest functions of src/ (DESIGN.md: "a function that grows past a screen is split into named
// steps"). Usage: node scripts/function-lengths.ts [--top N] [--max LINES] [folder]
// Lines are counted as eslint's max-lines-per-function counts them (skipBlankLines, skipComments), and a
// function is excused by the same comment that silences that rule, on the line before the function starts:
//   // eslint-disable-next-line max-lines-per-function -- long because <the reason>
// so the script and the linter agree on which function is too long. With --max, exits 1 when a function
// is longer than LINES and carries no such reason; the files of function-lengths-pending.json (being split
// on other branches) are listed but not held to it, as eslint.config.js leaves them out too.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import pendingList from './function-lengths-pending.json' with { type: 'json' };
import { exitWithUsageOnHelp } from './usage.ts';

interface Measured {
  readonly file: string;
  readonly name: string;
  readonly line: number;
  readonly lines: number;
  readonly excused: boolean;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return filesUnder(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

function nameOf(node: ts.Node, source: ts.SourceFile): string {
  if ((ts.isFunctionDeclaration(node) || ts.isMethodDeclaration(node) || ts.isGetAccessor(node)) && node.name)
    return node.name.getText(source);
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  const parent = node.parent;
  if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent))
    return parent.name.getText(source);
  return '(anonymous)';
}

/** Lines holding code: not blank, not only comment (eslint's skipBlankLines and skipComments). */
function codeLines(text: string, source: ts.SourceFile): boolean[] {
  const comment = new Array<boolean>(text.length).fill(false);
  const visit = (node: ts.Node): void => {
    for (const range of ts.getLeadingCommentRanges(text, node.getFullStart()) ?? [])
      comment.fill(true, range.pos, range.end);
    for (const child of node.getChildren(source)) visit(child);
  };
  visit(source);
  const code: boolean[] = [];
  let offset = 0;
  for (const line of text.split('\n')) {
    let hasCode = false;
    for (let i = 0; i < line.length && !hasCode; i += 1)
      hasCode = line.charAt(i).trim() !== '' && comment[offset + i] !== true;
    code.push(hasCode);
    offset += line.length + 1;
  }
  return code;
}

/** The reason eslint honours: `// eslint-disable-next-line max-lines-per-function -- long because …`. */
const REASON = /eslint-disable-next-line\s+max-lines-per-function\s+--\s+long because/i;

/** An immediately invoked function, which eslint's rule leaves out (its option IIFEs is off). */
function isIife(node: ts.Node): boolean {
  if (!ts.isFunctionExpression(node) && !ts.isArrowFunction(node)) return false;
  let callee: ts.Node = node;
  while (ts.isParenthesizedExpression(callee.parent)) callee = callee.parent;
  return ts.isCallExpression(callee.parent) && callee.parent.expression === callee;
}

function measure(file: string, root: string): Measured[] {
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const code = codeLines(text, source);
  const found: Measured[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body !== undefined && !isIife(node)) {
      const start = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const end = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      found.push({
        file: relative(root, file),
        name: nameOf(node, source),
        line: start + 1,
        lines: code.slice(start, end + 1).filter(Boolean).length,
        excused: REASON.test(lines[start - 1] ?? ''),
      });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

function main(argv: readonly string[]): number {
  let top = 10;
  let max: number | undefined;
  let folder = 'src';
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === '--top') top = Number(argv[++i]);
    else if (arg === '--max') max = Number(argv[++i]);
    else if (arg !== undefined) folder = arg;
  }
  const root = process.cwd();
  const all = filesUnder(join(root, folder))
    .flatMap((file) => measure(file, root))
    .sort((a, b) => b.lines - a.lines);
  for (const m of all.slice(0, top))
    console.log(
      `${String(m.lines).padStart(5)}  ${m.file}:${m.line}  ${m.name}${m.excused ? ' (reason given)' : ''}`,
    );
  if (max === undefined) return 0;
  const pending: readonly string[] = pendingList.files;
  const over = all.filter((m) => m.lines > max && !m.excused && !pending.includes(m.file));
  for (const m of over) console.error(`${m.file}:${m.line}: ${m.name} is ${m.lines} lines (limit ${max})`);
  return over.length > 0 ? 1 : 0;
}

exitWithUsageOnHelp(import.meta.filename);
process.exitCode = main(process.argv.slice(2));
