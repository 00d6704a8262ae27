// The server's OpenAPI document checked against the server by a property-based API tester:
// schemathesis (PyPI, installed by scripts/setup-schemathesis.sh into a venv of the tool cache) sends
// generated requests to every operation of a `capstan server` on a real cluster, as a global admin's
// API token, and checks that no answer is a 500 and every answer matches its documented schema.
// Bounded and reproducible: 3 examples per operation (CAPSTAN_SCHEMATHESIS_EXAMPLES to explore more),
// every phase run once (no --max-time: with one, fuzzing and the stateful phase repeat until it is
// spent), a fixed seed and no example database carried between runs, so a run generates the same cases
// each time (about 1,600, 85 s); the event stream (which never ends) left out.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import { APPLICATION_API_VERSION, APPLICATION_KIND } from '../../src/contracts/application.ts';
import {
  freshNamespace,
  installApplicationCrd,
  installProjectCrd,
  kubeClients,
  testCluster,
} from '../../src/testing/cluster.ts';
import { startGitServer } from '../../src/testing/git.ts';
import { adminHeaders, startTestServer } from '../../src/testing/server.ts';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..');
const EXAMPLES_PER_OPERATION = Number(process.env['CAPSTAN_SCHEMATHESIS_EXAMPLES'] ?? '2');

// A real repository for the Application, so that its desired state renders (an unreachable one
// would be answered 502, which schemathesis counts as a server error).
const git = await startGitServer(after, { anonymousFetch: true });
const CONFIG_MAP = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  level: info\n';
let st = '';
let kubeconfig = '';
const scratch = await mkdtemp(join(tmpdir(), 'capstan-schemathesis-'));

before(async () => {
  const setup = await run('bash', [join(ROOT, 'scripts', 'setup-schemathesis.sh')], {
    maxBuffer: 16 * 1024 * 1024,
  });
  st = setup.stdout.trim();
  kubeconfig = (await testCluster()).adminKubeconfig;
});

after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('the OpenAPI document against the server (schemathesis)', () => {
  // The whole output is written to a file named in the failure, with the server's failed requests.
  it(
    'answers generated requests to every operation without a 500, each answer matching its schema',
    { timeout: 300_000 },
    async (t) => {
      const kube = kubeClients(kubeconfig);
      const admin = new KubeCluster(loadKubeConfig({ kubeconfig }));
      t.after(() => {
        admin.close();
      });
      const appType = await installApplicationCrd(admin);
      await installProjectCrd(admin);
      const home = await freshNamespace(t, kube);
      const apps = await freshNamespace(t, kube);
      await admin.apply(
        appType,
        {
          apiVersion: APPLICATION_API_VERSION,
          kind: APPLICATION_KIND,
          metadata: { name: 'web', namespace: apps },
          spec: { source: { repoURL: git.url('config'), path: 'web', insecureHttp: true } },
        },
        { fieldManager: 'capstan-test' },
      );
      await git.createRepository('config', { files: { 'web/settings.yaml': CONFIG_MAP } });
      const logs: string[] = [];
      const { base } = await startTestServer(t.after.bind(t), {
        kubeconfig,
        namespace: home,
        database: join(scratch, 'server.db'),
        repositoryHosts: ['127.0.0.1'],
        log: (line) => logs.push(JSON.stringify(line)),
      });
      const token = await adminToken(base, admin, home);

      const result = await run(
        st,
        [
          'run',
          `${base}/api/v1/openapi.json`,
          '--url',
          base,
          '--checks',
          'not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance',
          '--max-examples',
          String(EXAMPLES_PER_OPERATION),
          '--header',
          `Authorization: Bearer ${token}`,
          '--exclude-path',
          '/api/v1/stream',
          '--request-timeout',
          '30',
          '--workers',
          '1',
          '--seed',
          '1',
          '--generation-database',
          'none',
          '--no-color',
        ],
        { maxBuffer: 64 * 1024 * 1024, cwd: scratch, env: { ...process.env, SCHEMATHESIS_HOOKS: '' } },
      ).catch((error: unknown) => error as { code: number; stdout: string; stderr: string });
      const output = `${result.stdout}\n${result.stderr}`;
      const report = join(tmpdir(), `capstan-schemathesis-${String(Date.now())}.txt`);
      const failedRequests = logs.filter((l) => l.includes('"request failed"'));
      await writeFile(report, `${output}\n\nThe server's failed requests:\n${failedRequests.join('\n')}\n`);
      assert.ok(
        !('code' in result) || result.code === 0,
        `whole output in ${report}:\n${output.slice(-6000)}`,
      );
      assert.match(output, /passed/i);
      assert.equal(logs.filter((l) => l.includes('"status":500')).length, 0, 'the server logged no 500');
    },
  );
});

/** A global admin's API token: the initial admin logs in, then creates a token for every project. */
async function adminToken(base: string, admin: KubeCluster, namespace: string): Promise<string> {
  const created = await fetch(`${base}/api/v1/tokens`, {
    method: 'POST',
    headers: await adminHeaders(admin, base, namespace),
    body: JSON.stringify({ name: 'schemathesis', project: '*', role: 'admin', expiresInDays: 1 }),
  });
  assert.equal(created.status, 201);
  return ((await created.json()) as { token: string }).token;
}
