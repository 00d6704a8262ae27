// The real node's volume provisioner as a process of the dev cluster (src/devcluster/local-volumes.ts):
// started by `up --real-node`, stopped by `down`. It looks at the claims once a second.
// Usage: node src/devcluster/local-volumes-main.ts --server URL --ca FILE --cert FILE --key FILE --root DIR
import { parseArgs } from 'node:util';
import { provisionOnce } from './local-volumes.ts';
import { adminClient } from './rest.ts';

const { values } = parseArgs({
  options: {
    server: { type: 'string' },
    ca: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
    root: { type: 'string' },
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
const api = adminClient(server, { ca, cert, key });
const run = { stopping: false };
process.on('SIGTERM', () => {
  run.stopping = true;
});
console.log(`local volumes: provisioning claims of capstan-local into ${root}; ready`);
while (!run.stopping) {
  try {
    for (const line of await provisionOnce(api, root)) console.log(line);
  } catch (error) {
    console.error(`local volumes: ${(error as Error).message}`);
  }
  await new Promise((resolve) => setTimeout(resolve, 1000));
}
