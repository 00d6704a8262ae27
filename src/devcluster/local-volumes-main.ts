// The dev cluster's volume provisioner as a process of the cluster (src/devcluster/local-volumes.ts):
// started by `up` (kwok-only clusters too), stopped by `down`. It watches claims and volumes (a change
// starts a pass) and passes again every 30 s besides (the resync).
// Usage: node src/devcluster/local-volumes-main.ts --server URL --ca FILE --cert FILE --key FILE --root DIR
//          [--folder-node NODE ...]   the nodes whose volumes get a folder under DIR (the real node)
import { parseArgs } from 'node:util';
import { PassQueue, provisionOnce } from './local-volumes.ts';
import { adminClient, watchOnce } from './rest.ts';

const RESYNC_MS = 30_000;
const { values } = parseArgs({
  options: {
    server: { type: 'string' },
    ca: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
    root: { type: 'string' },
    'folder-node': { type: 'string', multiple: true },
  },
  strict: true,
});
const { server, ca, cert, key, root } = values;
if (!server || !ca || !cert || !key || !root) {
  console.error(
    'local-volumes: the API server, CA, client certificate and key, and the volumes folder are all required (usage: the first lines of this file)',
  );
  process.exit(2);
}
const files = { ca, cert, key };
const api = adminClient(server, files);
const folderNodes = new Set(values['folder-node'] ?? []);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
process.on('SIGTERM', () => process.exit(0));

const passes = new PassQueue(async () => {
  try {
    for (const line of await provisionOnce(api, root, folderNodes)) console.log(line);
  } catch (error) {
    console.error(`local volumes: ${(error as Error).message}`);
  }
});

/** One collection watched for ever: each event starts a pass; a watch that ends or fails is made again. */
async function keepWatching(collection: string): Promise<never> {
  for (;;) {
    try {
      await watchOnce(server ?? '', files, `${collection}?watch=1&timeoutSeconds=300`, () => {
        void passes.trigger();
      });
    } catch (error) {
      console.error(`local volumes: watch ${collection}: ${(error as Error).message}`);
      await sleep(1000);
    }
    // Events between two watch requests are not seen: a pass makes up for them.
    void passes.trigger();
  }
}

await passes.trigger();
console.log(
  `local volumes: provisioning claims of capstan-local into ${root} (folders for ${[...folderNodes].join(', ') || 'no node'}); ready`,
);
void keepWatching('/api/v1/persistentvolumeclaims');
void keepWatching('/api/v1/persistentvolumes');
for (;;) {
  await sleep(RESYNC_MS);
  await passes.trigger();
}
