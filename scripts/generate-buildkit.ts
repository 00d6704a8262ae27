// Prints the objects that run BuildKit for pipeline image steps (src/contracts/buildkit-install.ts) as
// one YAML file, for `kubectl apply --server-side -f -` (docs/pipelines.md, "Image steps").
// Usage: node scripts/generate-buildkit.ts --image IMAGE [--namespace NS] [--cache-size 20Gi]
//          [--registry-ca HOST=CA_FILE ...]
//   --image         an image with buildkitd, buildctl, runc, git and /bin/sh, best by digest
//   --registry-ca   a registry with a private CA (repeat it): buildkitd trusts that CA for that host
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { buildkitManifests } from '../src/contracts/buildkit-install.ts';
import { exitWithUsageOnHelp } from './usage.ts';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      image: { type: 'string' },
      namespace: { type: 'string' },
      'cache-size': { type: 'string' },
      'registry-ca': { type: 'string', multiple: true },
    },
    strict: true,
  });
  if (values.image === undefined) {
    process.stderr.write(
      'generate-buildkit: --image is required (an image with buildkitd, buildctl, runc, git)\n',
    );
    return 2;
  }
  const registryCAs = await Promise.all(
    (values['registry-ca'] ?? []).map(async (pair) => {
      const at = pair.indexOf('=');
      if (at <= 0) throw new Error(`--registry-ca ${pair}: expected HOST=CA_FILE`);
      return { host: pair.slice(0, at), caPem: await readFile(pair.slice(at + 1), 'utf8') };
    }),
  );
  const objects = buildkitManifests({
    image: values.image,
    ...(values.namespace === undefined ? {} : { namespace: values.namespace }),
    ...(values['cache-size'] === undefined ? {} : { cache: { size: values['cache-size'] } }),
    registryCAs,
  });
  process.stdout.write(objects.map((o) => stringify(o, { lineWidth: 0 })).join('---\n'));
  return 0;
}

exitWithUsageOnHelp(import.meta.filename);
process.exitCode = await main();
