#!/usr/bin/env node
// The `capstan` command. Capstan runs its TypeScript sources directly on Node.js 24 (type stripping).
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(
    `capstan: Node.js 24 or newer is needed, this is ${process.version}. ` +
      `Run it through the project (npm run capstan -- ...), which uses the Node.js 24 it pins.\n`,
  );
  process.exit(3);
}
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
