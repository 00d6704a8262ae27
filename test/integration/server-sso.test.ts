// `capstan server` with OIDC single sign-on against a real cluster and a real OpenID provider: the
// server runs with its least-privilege identity, reads the client secret from a Secret of its
// namespace (--oidc-client-secret-secret), and a person signs in through the provider; their group
// gives them a Project's role; the client secret appears in no answer and no log line.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { KubeCluster } from '../../src/adapters/kube/kube-cluster.ts';
import { SSO_CALLBACK_PATH } from '../../src/api/server/sso.ts';
import { APPLICATION_API_VERSION, APPLICATION_KIND } from '../../src/contracts/application.ts';
import { OIDC_SECRET_KEY } from '../../src/main/server-sso.ts';
import type { ResourceType } from '../../src/ports/cluster.ts';
import { freePort } from '../../src/devcluster/ports.ts';
import { freshNamespace, type KubeClients } from '../../src/testing/cluster.ts';
import { Browser, startOidcProvider } from '../../src/testing/oidc-provider.ts';
import {
  deployerProject,
  serverIdentity,
  serverTestKube,
  startTestServer,
} from '../../src/testing/server.ts';

const CLIENT_SECRET = `sentinel-oidc-client-secret-${randomBytes(8).toString('hex')}`;

let kube: KubeClients;
let admin: KubeCluster;
let appType: ResourceType;
let projectType: ResourceType;
let secretType: ResourceType;
const scratch = await mkdtemp(join(tmpdir(), 'capstan-server-sso-'));
const stops: (() => Promise<void>)[] = [];

before(async () => {
  ({ kube, admin, appType, projectType, secretType } = await serverTestKube());
});

after(async () => {
  for (const stop of stops) await stop();
  admin.close();
  await rm(scratch, { recursive: true, force: true });
});

describe('capstan server with OIDC single sign-on', () => {
  it('reads its client secret from a Secret, signs a person in through the provider, and maps their group to a Project role', async (t) => {
    const home = await freshNamespace(t, kube);
    const apps = await freshNamespace(t, kube);
    const project = await deployerProject(
      t,
      { admin, projectType },
      { apps, holders: { groups: ['web-team'] } },
    );
    await admin.apply(
      appType,
      {
        apiVersion: APPLICATION_API_VERSION,
        kind: APPLICATION_KIND,
        metadata: { name: 'web', namespace: apps },
        spec: { project, source: { repoURL: 'https://git.example.com/team/config.git', path: 'web' } },
      },
      { fieldManager: 'capstan-test' },
    );
    await admin.apply(
      secretType,
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'oidc', namespace: home },
        stringData: { [OIDC_SECRET_KEY]: CLIENT_SECRET },
      },
      { fieldManager: 'capstan-test' },
    );
    const serverKubeconfig = await serverIdentity(admin, home);

    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const provider = await startOidcProvider(
      {
        clientId: 'capstan',
        clientSecret: CLIENT_SECRET,
        redirectUris: [`${base}${SSO_CALLBACK_PATH}`],
        users: { wendy: { groups: ['web-team'] } },
      },
      (stop) => stops.push(stop),
    );
    const logs: string[] = [];
    await startTestServer((stop) => stops.unshift(stop), {
      kubeconfig: serverKubeconfig,
      namespace: home,
      database: join(scratch, 'server.db'),
      port,
      log: (line) => logs.push(JSON.stringify(line)),
      oidc: {
        issuer: provider.issuer,
        clientId: 'capstan',
        clientSecretSecret: 'oidc',
        publicUrl: base,
        allowHttpIssuer: true,
      },
    });

    const answers: string[] = [];
    const browser = new Browser({ login: 'wendy' });
    const landed = await browser.open(`${base}/api/v1/auth/oidc/login`, {
      stopAt: (url) => url.origin === base && url.pathname === '/',
    });
    answers.push(landed.body);
    assert.equal(new URL(landed.url).pathname, '/', landed.body);
    const who = await browser.request(new URL(`${base}/api/v1/session`));
    answers.push(who.body);
    const session = JSON.parse(who.body) as { user: string; groups: string[]; csrfToken: string };
    assert.equal(session.user, 'wendy');
    assert.deepEqual(session.groups, ['web-team']);
    const list = await browser.request(new URL(`${base}/api/v1/applications?namespace=${apps}`));
    answers.push(list.body);
    assert.deepEqual(
      (JSON.parse(list.body) as { items: { name: string }[] }).items.map((i) => i.name),
      ['web'],
    );
    const sync = await browser.request(new URL(`${base}/api/v1/applications/${apps}/web/sync`), {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-csrf-token': session.csrfToken },
      body: '{}',
    });
    answers.push(sync.body);
    assert.equal(sync.status, 202, sync.body);
    const config = await browser.request(new URL(`${base}/api/v1/auth/config`));
    answers.push(config.body, JSON.stringify([...config.headers]));
    assert.match(config.body, /"issuer"/);

    assert.ok(logs.length > 3);
    assert.equal([...answers, ...logs].join('\n').includes(CLIENT_SECRET), false);
  });
});
