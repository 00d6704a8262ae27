// The longest functions of src/ (DESIGN.md: "a function that grows past a screen is split into named
// steps"). Usage: node scripts/function-lengths.ts [--top N] [--max LINES] [folder]
// With --max, exits 1 when a function is longer than LINES and its first lines carry no reason
// (a comment containing "long because").
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

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

function measure(file: string, root: string): Measured[] {
  const text = readFileSync(file, 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found: Measured[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body !== undefined) {
      const start = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const end = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      const body = (node.body as ts.Node).getText(source).split('\n').slice(0, 4).join('\n');
      const leading = text.slice(node.getFullStart(), node.getStart(source));
      found.push({
        file: relative(root, file),
        name: nameOf(node, source),
        line: start + 1,
        lines: end - start + 1,
        excused: /long because/i.test(leading + body),
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
  const over = all.filter((m) => m.lines > max && !m.excused);
  for (const m of over) console.error(`${m.file}:${m.line}: ${m.name} is ${m.lines} lines (limit ${max})`);
  return over.length > 0 ? 1 : 0;
}

process.exitCode = main(process.argv.slice(2));
