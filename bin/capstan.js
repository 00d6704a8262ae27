#!/usr/bin/env node
// The `capstan` command. In the repository Capstan runs its TypeScript sources directly on Node.js 24
// (type stripping); installed as a package (npm install -g), where Node.js strips no types under
// node_modules, it runs the JavaScript that `npm pack` compiled into dist/ (the prepack script).
import { sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(
    `capstan: Node.js 24 or newer is needed, this is ${process.version}. ` +
      `Run it through the project (npm run capstan -- ...), which uses the Node.js 24 it pins.\n`,
  );
  process.exit(3);
}
const installed = fileURLToPath(import.meta.url)
  .split(sep)
  .includes('node_modules');
await import(installed ? '../dist/cli/run.js' : '../src/cli/run.ts');
