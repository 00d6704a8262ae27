/**
 * OIDC single sign-on end to end against a real OpenID provider (the npm oidc-provider, started by
 * src/testing/oidc-provider.ts): the server listens on a loopback port, a scripted browser signs in
 * at the provider and comes back. Checked: groups mapped to roles through the Projects, a user with
 * no mapped group holds nothing, a wrong state, a replayed code, an expired ID token, no pending
 * login, the CLI's loopback exchange, logout, and the client secret in no answer, log or audit entry.
 * With a provider that gives refresh tokens (and ID tokens of a minute): a session outlives its ID
 * token (refreshed, the token rotated, the new groups taken; two replicas on one Store refresh it
 * once), ends when the provider refuses the refresh (the user removed), logout revokes the token at
 * the provider, and a provider out of reach leaves the session until its ID token expires (then
 * 503); no refresh token is ever said. With a provider that sends groups at its userinfo endpoint
 * only (as Dex): the groups come from there.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { OpenIdSignOn } from '../../../src/adapters/oidc/openid-sign-on.ts';
import { openSqliteStore } from '../../../src/adapters/store/sqlite-store.ts';
import { buildServerApi } from '../../../src/api/server/app.ts';
import { PENDING_COOKIE, SSO_CALLBACK_PATH } from '../../../src/api/server/sso.ts';
import { APPLICATION_API_VERSION, APPLICATION_KIND } from '../../../src/contracts/application.ts';
import { freePort } from '../../../src/devcluster/ports.ts';
import type { SingleSignOn } from '../../../src/ports/single-sign-on.ts';
import type { SessionRecord, Store } from '../../../src/ports/store.ts';
import type { ProjectAccess, ProjectDirectory } from '../../../src/server/access.ts';
import { ApplicationIndex } from '../../../src/server/application-index.ts';
import { Authenticator, SESSION_COOKIE } from '../../../src/server/auth.ts';
import { CursorCodec } from '../../../src/server/cursor.ts';
import { ResourceViews } from '../../../src/server/resource-views.ts';
import { Sealer } from '../../../src/server/sealed.ts';
import { FakeApplicationWriter } from '../../../src/testing/fake-application-writer.ts';
import { FakeResourceReader } from '../../../src/testing/fake-resource-reader.ts';
import { CLI, runCapstan } from '../../../src/testing/cli.ts';
import { Browser, startOidcProvider, type TestOidcProvider } from '../../../src/testing/oidc-provider.ts';

const CLIENT_ID = 'capstan';
const CLIENT_SECRET = `sentinel-oidc-secret-${randomBytes(8).toString('hex')}`;
const PROJECTS: ProjectAccess[] = [
  { name: 'team-a', roles: [{ name: 'deployer', groups: ['team-a-deployers'] }] },
  { name: 'team-b', roles: [{ name: 'viewer', groups: ['team-b-viewers'] }] },
];
const directory: ProjectDirectory = {
  get: (name) => PROJECTS.find((p) => p.name === name),
  list: () => [...PROJECTS],
};
const USERS = {
  alice: { groups: ['team-a-deployers', 'team-b-viewers'], email: 'alice@example.test' },
  carol: { groups: ['unmapped'] },
  root: { groups: ['platform-admins'] },
  dave: { groups: ['team-a-deployers'] },
  erin: { groups: ['team-a-deployers'] },
  frank: { groups: ['team-a-deployers'] },
};

/** Everything the server said or logged, for the secrets sweep. */
const said: string[] = [];

interface Served {
  readonly base: string;
  readonly host: string;
  readonly app: FastifyInstance;
  readonly store: Store;
  readonly sealer: Sealer;
}

/** The server API on a loopback port, its clock `skewMs()` ahead of the provider's. */
async function serve(
  provider: TestOidcProvider,
  port: number,
  skewMs = () => 0,
  replicaOf?: { readonly store: Store; readonly key: Buffer },
  wrap: (signOn: SingleSignOn) => SingleSignOn = (signOn) => signOn,
): Promise<Served & { readonly key: Buffer }> {
  const now = () => Date.now() + skewMs();
  const key = replicaOf?.key ?? randomBytes(32);
  const sealer = new Sealer({ key, now });
  const store = replicaOf?.store ?? openSqliteStore({ path: ':memory:' });
  const index = new ApplicationIndex({ epoch: 'e1' });
  const writer = new FakeApplicationWriter(index.handle);
  for (const [namespace, project] of [
    ['a', 'team-a'],
    ['b', 'team-b'],
  ] as const)
    writer.seed({
      apiVersion: APPLICATION_API_VERSION,
      kind: APPLICATION_KIND,
      metadata: { name: 'web', namespace },
      spec: { project, source: { repoURL: 'https://github.com/org/config.git', path: 'web' } },
    });
  index.handle({ type: 'SYNCED', object: { apiVersion: 'v1', kind: 'List', metadata: {} } });
  const base = `http://127.0.0.1:${port}`;
  const app = buildServerApi({
    applications: index,
    writer,
    projects: directory,
    clusters: () => Promise.resolve([]),
    events: () => Promise.resolve([]),
    resources: new ResourceViews({ reader: new FakeResourceReader() }),
    repositories: { resolve: () => Promise.reject(new Error('not used')) },
    auth: new Authenticator({ store, now }),
    store,
    cursors: new CursorCodec({ key: randomBytes(32), now }),
    now,
    secureCookies: false,
    logger: (line) => said.push(JSON.stringify(line)),
    sso: {
      signOn: wrap(
        new OpenIdSignOn({
          issuer: provider.issuer,
          clientId: CLIENT_ID,
          clientSecret: CLIENT_SECRET,
          allowHttp: true,
          now,
        }),
      ),
      sealer,
      publicUrl: base,
      adminGroups: ['platform-admins'],
    },
  });
  app.addHook('onSend', (_request, reply, payload, done) => {
    said.push(JSON.stringify(reply.getHeaders()), typeof payload === 'string' ? payload : '');
    done(null, payload);
  });
  await app.listen({ host: '127.0.0.1', port });
  return { base, host: `127.0.0.1:${port}`, app, store, sealer, key };
}

const BACKCHANNEL_LOGOUT_PATH = '/api/v1/auth/oidc/backchannel-logout';
const LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/** Posts a logout token to a server as the provider does (a form). */
async function postLogout(served: Served, token: string): Promise<{ status: number; body: string }> {
  const answer = await fetch(`${served.base}${BACKCHANNEL_LOGOUT_PATH}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ logout_token: token }).toString(),
  });
  return { status: answer.status, body: await answer.text() };
}

const isCallback = (url: URL) => url.pathname === SSO_CALLBACK_PATH;

/** Signs `login` in up to the callback (not visited): the callback address and the browser. */
async function upToCallback(server: Served, login: string): Promise<{ browser: Browser; callback: string }> {
  const browser = new Browser({ login });
  const page = await browser.open(`${server.base}/api/v1/auth/oidc/login?return=/applications`, {
    stopAt: isCallback,
  });
  assert.ok(isCallback(new URL(page.url)), `stopped at ${page.url}: ${page.body}`);
  return { browser, callback: page.url };
}

/** A full sign-in: the session cookie and CSRF token of `login`. */
async function signIn(server: Served, login: string) {
  const { browser, callback } = await upToCallback(server, login);
  const landed = await browser.request(new URL(callback));
  assert.equal(landed.status, 302, landed.body);
  const session = await browser.request(new URL(`${server.base}/api/v1/session`));
  assert.equal(session.status, 200, session.body);
  const info = JSON.parse(session.body) as {
    user: string;
    groups: string[];
    admin: boolean;
    csrfToken: string;
  };
  return { browser, landed, info };
}

/** The Store's record of the session a browser holds. */
function sessionRecord(served: Served, browser: Browser) {
  const secret = browser.cookie(served.host, SESSION_COOKIE) ?? '';
  return served.store.sessions.get(createHash('sha256').update(secret).digest('hex'));
}

/** The refresh token a session keeps, unsealed as the server does (kept for the secrets sweep). */
function refreshTokenOf(served: Served, record: SessionRecord): string {
  assert.ok(record.signOn, 'the session keeps a refresh token');
  const opened = served.sealer.unseal<string>(`oidc-refresh:${record.digest}`, record.signOn.refreshToken);
  assert.ok(opened.ok, 'the sealed refresh token opens with the server’s key');
  refreshTokens.push(opened.value);
  return opened.value;
}

/** The provider's answer to a refresh-token grant with `token`, as the client. */
async function redeem(issuer: string, token: string): Promise<{ status: number; body: string }> {
  const answer = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: token }).toString(),
  });
  return { status: answer.status, body: await answer.text() };
}

let provider: TestOidcProvider;
let server: Served & { readonly key: Buffer };
/** A second replica of `server` (one Store): the provider's back-channel logout goes to it. */
let serverReplica: Served;
let skewed: Served;
/** A provider that gives refresh tokens and ID tokens of a minute, and a server whose clock the tests move on. */
let refreshing: TestOidcProvider;
let refreshed: Served & { readonly key: Buffer };
let replica: Served;
/** A third replica whose refreshes wait at a gate the test opens (the real provider answers them then). */
let gated: Served;
let gate = Promise.resolve();
let refreshEntered: () => void = () => {};
let ahead = 0;
/** A provider that sends groups at its userinfo endpoint only, and a server that signs in with it. */
let userinfo: Served;
/** The refresh tokens the tests saw (unsealed from the Store): the sweep checks none was ever said. */
const refreshTokens: string[] = [];
const stops: (() => Promise<void>)[] = [];

before(async () => {
  const port = await freePort();
  const skewedPort = await freePort();
  const refreshPort = await freePort();
  const userinfoPort = await freePort();
  const callbackOf = (p: number) => `http://127.0.0.1:${p}${SSO_CALLBACK_PATH}`;
  refreshing = await startOidcProvider(
    {
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      redirectUris: [callbackOf(refreshPort)],
      users: USERS,
      idTokenTtlSeconds: 60,
      refreshTokens: true,
    },
    (stop) => stops.push(stop),
  );
  refreshed = await serve(refreshing, refreshPort, () => ahead);
  // A second replica on the same Store, with the same shared key (the Secret capstan-server).
  replica = await serve(refreshing, await freePort(), () => ahead, refreshed);
  gated = await serve(
    refreshing,
    await freePort(),
    () => ahead,
    refreshed,
    (signOn) => ({
      issuer: signOn.issuer,
      start: (uri) => signOn.start(uri),
      finish: (callback, pending) => signOn.finish(callback, pending),
      refresh: async (token, subject) => {
        refreshEntered();
        await gate;
        return signOn.refresh(token, subject);
      },
      revoke: (token) => signOn.revoke(token),
      endSessionUrl: () => signOn.endSessionUrl(),
      verifyLogoutToken: (token) => signOn.verifyLogoutToken(token),
    }),
  );
  // Each replica discovers the provider now, while its clock is the provider's: the library's clock
  // skew is taken at discovery (src/adapters/oidc/openid-sign-on.ts), and a replica that discovered
  // later, with the tests' clock moved on, would find every new ID token expired.
  for (const s of [refreshed, replica, gated])
    assert.equal((await fetch(`${s.base}/api/v1/auth/config`)).status, 200);
  const dexLike = await startOidcProvider(
    {
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      redirectUris: [callbackOf(userinfoPort)],
      users: USERS,
      claimsIn: 'userinfo',
    },
    (stop) => stops.push(stop),
  );
  userinfo = await serve(dexLike, userinfoPort);
  const replicaPort = await freePort();
  provider = await startOidcProvider(
    {
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      redirectUris: [port, skewedPort].map((p) => `http://127.0.0.1:${p}${SSO_CALLBACK_PATH}`),
      users: USERS,
      backchannelLogoutUri: `http://127.0.0.1:${replicaPort}${BACKCHANNEL_LOGOUT_PATH}`,
    },
    (stop) => stops.push(stop),
  );
  server = await serve(provider, port);
  serverReplica = await serve(provider, replicaPort, () => 0, server);
  // Two hours ahead: every ID token the provider signs (1 hour) has expired by this server's clock.
  skewed = await serve(provider, skewedPort, () => 2 * 60 * 60 * 1000);
});

after(async () => {
  await replica.app.close();
  await gated.app.close();
  await serverReplica.app.close();
  for (const s of [server, skewed, refreshed, userinfo]) {
    await s.app.close();
    await s.store.close();
  }
  for (const stop of stops) await stop();
});

describe('OIDC single sign-on against a real OpenID provider', () => {
  it('tells clients that single sign-on is available, and where', async () => {
    const answer = await fetch(`${server.base}/api/v1/auth/config`);
    const config = (await answer.json()) as { local: boolean; sso?: { issuer: string; loginUrl: string } };
    assert.equal(config.local, true);
    assert.equal(config.sso?.issuer, provider.issuer);
    assert.equal(config.sso.loginUrl, '/api/v1/auth/oidc/login');
  });

  it('logs a user in with PKCE, maps their groups to the Projects’ roles, and sets the same session cookie as a local login', async () => {
    const { browser: probe } = await upToCallback(server, 'alice');
    // The provider was asked with PKCE (S256), a state and a nonce; the checks ride in a sealed cookie.
    const pending = probe.cookie(server.host, PENDING_COOKIE);
    assert.ok(pending !== undefined && pending.length > 40);
    assert.ok(!pending.includes('alice'));

    const { browser, landed, info } = await signIn(server, 'alice');
    assert.equal(landed.headers.get('location'), '/applications');
    const cookies = landed.headers.getSetCookie();
    const session = cookies.find((c) => c.startsWith(`${SESSION_COOKIE}=`)) ?? '';
    assert.match(session, /HttpOnly/);
    assert.match(session, /SameSite=Strict/);
    assert.ok(cookies.some((c) => c.startsWith(`${PENDING_COOKIE}=;`) && /Max-Age=0/.test(c)));
    assert.equal(info.user, 'alice');
    assert.deepEqual(info.groups, ['team-a-deployers', 'team-b-viewers']);
    assert.equal(info.admin, false);
    // This provider gives no refresh token (its client may not use the grant): nothing to refresh.
    const record = await sessionRecord(server, browser);
    assert.ok(record);
    assert.equal(record.signOn, undefined);

    const sync = (ns: string, csrf: string | undefined) =>
      browser.request(new URL(`${server.base}/api/v1/applications/${ns}/web/sync`), {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(csrf === undefined ? {} : { 'x-csrf-token': csrf }),
        },
        body: '{}',
      });
    // Deployer of team-a through the group; a viewer only of team-b; the cookie alone cannot act.
    assert.equal((await sync('a', info.csrfToken)).status, 202);
    const refused = await sync('b', info.csrfToken);
    assert.equal(refused.status, 403);
    assert.match(refused.body, /applications\.sync/);
    assert.equal((await sync('a', undefined)).status, 403);

    const entries = await server.store.audit.query({ action: 'login', actor: 'alice', limit: 10 });
    const [first] = entries;
    assert.ok(first);
    assert.equal(first.result, 'success');
    assert.equal(first.changes?.['method'], 'oidc');
  });

  it('gives a user whose groups no Project names no role at all, and a member of an admin group the global admin', async () => {
    const { browser, info } = await signIn(server, 'carol');
    assert.deepEqual(info.groups, ['unmapped']);
    const list = await browser.request(new URL(`${server.base}/api/v1/applications`));
    assert.equal(list.status, 200);
    assert.deepEqual((JSON.parse(list.body) as { items: unknown[] }).items, []);
    const get = await browser.request(new URL(`${server.base}/api/v1/applications/a/web`));
    assert.equal(get.status, 403);

    const root = await signIn(server, 'root');
    assert.equal(root.info.admin, true);
  });

  it('refuses a callback whose state is another login’s, and one with no login started in this browser', async () => {
    const mine = await upToCallback(server, 'alice');
    const theirs = await upToCallback(server, 'carol');
    const crossed = await mine.browser.request(new URL(theirs.callback));
    assert.equal(crossed.status, 401, crossed.body);
    assert.match(crossed.body, /OIDC_LOGIN_FAILED/);
    assert.match(crossed.body, /state/);
    assert.equal(
      crossed.headers.getSetCookie().some((c) => c.startsWith(`${SESSION_COOKIE}=`)),
      false,
    );

    const stranger = new Browser({ login: 'alice' });
    const unsolicited = await stranger.request(new URL(theirs.callback));
    assert.equal(unsolicited.status, 400);
    assert.match(unsolicited.body, /SSO_STATE_INVALID/);
    const failures = await server.store.audit.query({ action: 'login', result: 'failure', limit: 50 });
    assert.ok(failures.some((e) => /state/.test(e.reason ?? '')));
  });

  it('refuses a replayed authorization code, even with the pending cookie put back', async () => {
    const { browser, callback } = await upToCallback(server, 'alice');
    const pending = browser.cookie(server.host, PENDING_COOKIE);
    assert.equal((await browser.request(new URL(callback))).status, 302);
    browser.setCookie(server.host, SESSION_COOKIE, undefined);
    browser.setCookie(server.host, PENDING_COOKIE, pending);
    const replay = await browser.request(new URL(callback));
    assert.equal(replay.status, 401, replay.body);
    assert.match(replay.body, /invalid_grant/);
    assert.equal(
      replay.headers.getSetCookie().some((c) => c.startsWith(`${SESSION_COOKIE}=`)),
      false,
    );
  });

  it('refuses an ID token that has expired by the server’s clock', async () => {
    const { browser, callback } = await upToCallback(skewed, 'alice');
    const answer = await browser.request(new URL(callback));
    assert.equal(answer.status, 401, answer.body);
    assert.match(answer.body, /OIDC_LOGIN_FAILED/);
    assert.match(answer.body, /exp/);
  });

  it('ends a CLI login at its loopback address with a one-time code that only its verifier redeems', async () => {
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const loopback = 'http://127.0.0.1:49999/callback';
    const browser = new Browser({ login: 'alice' });
    const start = `${server.base}/api/v1/auth/oidc/login?cli=${encodeURIComponent(loopback)}&challenge=${challenge}`;
    const page = await browser.open(start, { stopAt: (url) => url.port === '49999' });
    const code = new URL(page.url).searchParams.get('code') ?? '';
    assert.ok(code.length > 40, page.url);
    const exchange = (body: unknown) =>
      fetch(`${server.base}/api/v1/auth/oidc/exchange`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const wrong = await exchange({ code, verifier: randomBytes(32).toString('base64url') });
    assert.equal(wrong.status, 400);
    assert.match(await wrong.text(), /SSO_CODE_INVALID/);
    const right = await exchange({ code, verifier });
    assert.equal(right.status, 200);
    const session = (await right.json()) as { session: string; user: string; csrfToken: string };
    assert.equal(session.user, 'alice');
    const who = await fetch(`${server.base}/api/v1/session`, {
      headers: { cookie: `${SESSION_COOKIE}=${session.session}` },
    });
    assert.equal(((await who.json()) as { user: string }).user, 'alice');

    for (const cli of ['http://evil.example:8080/cb', 'https://127.0.0.1:4000/', 'http://127.0.0.1/']) {
      const refused = await fetch(
        `${server.base}/api/v1/auth/oidc/login?cli=${encodeURIComponent(cli)}&challenge=${challenge}`,
        { redirect: 'manual' },
      );
      assert.equal(refused.status, 400, cli);
    }
  });

  it('capstan login --sso prints the URL, completes through its loopback listener, and capstan app list then goes through the server', async () => {
    const home = await mkdtemp(join(tmpdir(), 'capstan-sso-cli-'));
    try {
      const env = { ...process.env, CAPSTAN_CONFIG: join(home, 'login.json') };
      const child = spawn(process.execPath, [CLI, 'login', server.base, '--sso'], { env });
      let stderr = '';
      const url = await new Promise<string>((resolve, reject) => {
        child.stderr.on('data', (chunk: Buffer) => {
          stderr += chunk.toString();
          const found = /(http:\/\/\S+\/api\/v1\/auth\/oidc\/login\S+)/.exec(stderr)?.[1];
          if (found !== undefined) resolve(found);
        });
        child.on('close', () => {
          reject(new Error(`capstan login exited: ${stderr}`));
        });
      });
      const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
      const page = await new Browser({ login: 'alice' }).open(url);
      assert.equal(page.status, 200, page.body);
      assert.match(page.body, /Logged in/);
      assert.equal(await exited, 0, stderr);
      assert.match(stderr, /as alice/);
      const kept = JSON.parse(await readFile(join(home, 'login.json'), 'utf8')) as { user: string };
      assert.equal(kept.user, 'alice');
      const list = await runCapstan(['app', 'list', '-A'], { CAPSTAN_CONFIG: join(home, 'login.json') });
      assert.equal(list.code, 0, list.stderr);
      assert.match(list.stdout, /web/);
      said.push(stderr, list.stdout, list.stderr);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });

  it('logs out: the session ends at once', async () => {
    const { browser, info } = await signIn(server, 'alice');
    const out = await browser.request(new URL(`${server.base}/api/v1/session`), {
      method: 'DELETE',
      headers: { 'x-csrf-token': info.csrfToken },
    });
    assert.equal(out.status, 204);
    assert.equal((await browser.request(new URL(`${server.base}/api/v1/session`))).status, 401);
  });

  it('keeps a session past its ID token’s expiry with the refresh token (asked with offline_access), rotating it', async () => {
    const { browser, info } = await signIn(refreshed, 'dave');
    assert.deepEqual(info.groups, ['team-a-deployers']);
    const first = await sessionRecord(refreshed, browser);
    assert.ok(first?.signOn);
    const token = refreshTokenOf(refreshed, first);
    assert.equal(first.signOn.refreshToken.includes(token), false, 'the Store holds it sealed');
    const login = await refreshed.store.audit.query({ action: 'login', actor: 'dave', limit: 5 });
    assert.equal(login[0]?.changes?.['refresh'], true);

    // Two minutes on by the server's clock: the ID token (one minute) has expired. The request goes
    // through: the session was refreshed first, the provider rotated the refresh token, and the groups
    // are the new ID token's (dave was given team-b's viewer group meanwhile).
    refreshing.setGroups('dave', ['team-a-deployers', 'team-b-viewers']);
    ahead += 2 * 60 * 1000;
    const [one, two] = await Promise.all([
      browser.request(new URL(`${refreshed.base}/api/v1/applications`)),
      browser.request(new URL(`${refreshed.base}/api/v1/session`)),
    ]);
    assert.equal(one.status, 200, one.body);
    assert.equal(two.status, 200, two.body);
    assert.deepEqual(
      (JSON.parse(one.body) as { items: { namespace: string }[] }).items.map((i) => i.namespace).sort(),
      ['a', 'b'],
      'team-b readable through the group the refresh brought',
    );
    const second = await sessionRecord(refreshed, browser);
    assert.ok(second?.signOn);
    const rotated = refreshTokenOf(refreshed, second);
    assert.notEqual(rotated, token, 'a new refresh token');
    assert.ok(Date.parse(second.signOn.refreshAfter) > Date.parse(first.signOn.refreshAfter));
    assert.deepEqual(second.groups, ['team-a-deployers', 'team-b-viewers']);
    assert.deepEqual((JSON.parse(two.body) as { groups: string[] }).groups, second.groups);
    assert.equal(second.expiresAt, first.expiresAt, 'a refresh does not lengthen the session');

    // Until the new ID token nears its expiry, requests do not ask the provider again.
    const again = await browser.request(new URL(`${refreshed.base}/api/v1/session`));
    assert.equal(again.status, 200);
    assert.equal((await sessionRecord(refreshed, browser))?.signOn?.refreshToken, second.signOn.refreshToken);
    const sync = await browser.request(new URL(`${refreshed.base}/api/v1/applications/a/web/sync`), {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-csrf-token': info.csrfToken },
      body: '{}',
    });
    assert.equal(sync.status, 202, sync.body);
  });

  it('ends a session at its next refresh when the provider refuses it (the user revoked): 401 SSO_SESSION_REVOKED', async () => {
    const { browser } = await signIn(refreshed, 'erin');
    assert.equal((await browser.request(new URL(`${refreshed.base}/api/v1/session`))).status, 200);
    const record = await sessionRecord(refreshed, browser);
    assert.ok(record);
    refreshTokenOf(refreshed, record);
    refreshing.removeUser('erin');
    ahead += 2 * 60 * 1000;
    const ended = await browser.request(new URL(`${refreshed.base}/api/v1/applications`));
    assert.equal(ended.status, 401, ended.body);
    assert.equal((JSON.parse(ended.body) as { error: string }).error, 'SSO_SESSION_REVOKED');
    assert.match(ended.body, /refused to refresh/);
    assert.equal(await sessionRecord(refreshed, browser), undefined, 'the session is deleted');
    const after = await browser.request(new URL(`${refreshed.base}/api/v1/session`));
    assert.equal(after.status, 401);
    assert.equal((JSON.parse(after.body) as { error: string }).error, 'UNAUTHENTICATED');
    const trail = await refreshed.store.audit.query({ action: 'logout', actor: 'erin', limit: 5 });
    assert.equal(trail[0]?.changes?.['endedBy'], 'provider');
  });

  it('revokes the refresh token at the provider on logout', async () => {
    const { browser, info } = await signIn(refreshed, 'dave');
    const record = await sessionRecord(refreshed, browser);
    assert.ok(record);
    const token = refreshTokenOf(refreshed, record);
    const out = await browser.request(new URL(`${refreshed.base}/api/v1/session`), {
      method: 'DELETE',
      headers: { 'x-csrf-token': info.csrfToken },
    });
    assert.equal(out.status, 204);
    const refused = await redeem(refreshing.issuer, token);
    assert.equal(refused.status, 400, refused.body);
    assert.match(refused.body, /invalid_grant/);
    assert.ok(
      said.some(
        (line) => line.includes('sso refresh token revoked at logout') && line.includes('"revoked":true'),
      ),
    );
  });

  it('refreshes a session once when two replicas on one Store are asked at the same moment: the grant stays whole', async () => {
    const { browser } = await signIn(refreshed, 'dave');
    const record = await sessionRecord(refreshed, browser);
    assert.ok(record);
    refreshTokenOf(refreshed, record);
    const cookie = browser.cookie(refreshed.host, SESSION_COOKIE) ?? '';
    const ask = async (base: string) => {
      const answer = await fetch(`${base}/api/v1/session`, {
        headers: { cookie: `${SESSION_COOKIE}=${cookie}` },
      });
      return { status: answer.status, body: await answer.text() };
    };
    const refreshes = () =>
      said.filter((line) => line.includes('"msg":"sso session refreshed","user":"dave"')).length;
    const before = refreshes();
    for (const round of [1, 2]) {
      ahead += 2 * 60 * 1000;
      const answers = await Promise.all(
        [refreshed.base, replica.base, refreshed.base, replica.base].map((base) => ask(base)),
      );
      for (const answer of answers) assert.equal(answer.status, 200, answer.body);
      // One refresh per round: a second use of a rotated token would have made the provider revoke
      // the grant, and the second round's refresh would then be refused.
      assert.equal(refreshes(), before + round);
    }
    const kept = await sessionRecord(refreshed, browser);
    assert.ok(kept);
    refreshTokenOf(refreshed, kept);
  });

  it('makes a refresh’s new groups visible on every replica at once: a request on another replica waits for the refresh running elsewhere', async () => {
    const { browser, info } = await signIn(refreshed, 'frank');
    assert.deepEqual(info.groups, ['team-a-deployers']);
    const record = await sessionRecord(refreshed, browser);
    assert.ok(record);
    refreshTokenOf(refreshed, record);
    const cookie = browser.cookie(refreshed.host, SESSION_COOKIE) ?? '';
    const groupsAt = async (base: string) => {
      const answer = await fetch(`${base}/api/v1/session`, {
        headers: { cookie: `${SESSION_COOKIE}=${cookie}` },
      });
      const body = await answer.text();
      assert.equal(answer.status, 200, body);
      return (JSON.parse(body) as { groups: string[] }).groups;
    };
    // frank leaves team-a and joins team-b at the provider; his ID token expires by the servers' clock.
    refreshing.setGroups('frank', ['team-b-viewers']);
    ahead += 2 * 60 * 1000;
    let open: () => void = () => {};
    gate = new Promise<void>((resolve) => (open = resolve));
    const entered = new Promise<void>((resolve) => (refreshEntered = resolve));
    const waitingLines = () =>
      said.filter((line) => line.includes('refresh running elsewhere') && line.includes('"user":"frank"'));
    const waitedBefore = waitingLines().length;
    // The gated replica claims the refresh and holds it at the provider's door.
    const first = groupsAt(gated.base);
    await entered;
    const claimed = await sessionRecord(refreshed, browser);
    assert.ok(claimed?.signOn?.refreshingUntil, 'the Store marks the refresh as running');
    // Meanwhile a request on another replica: it must not answer with the old groups.
    const second = groupsAt(replica.base);
    const race = { settled: false };
    try {
      const raced = await Promise.race([
        second.then((groups) => ({ answered: groups })),
        (async () => {
          while (!race.settled && waitingLines().length === waitedBefore)
            await new Promise((r) => setImmediate(r));
          return { waiting: true };
        })(),
      ]);
      assert.ok(
        'waiting' in raced,
        `the other replica answered during the refresh with ${JSON.stringify(raced)}`,
      );
    } finally {
      // Opened whatever happened above: a failed check must not leave the refresh waiting.
      race.settled = true;
      open();
    }
    assert.deepEqual(await first, ['team-b-viewers']);
    assert.deepEqual(await second, ['team-b-viewers'], 'the other replica answers with the refresh’s groups');
    const kept = await sessionRecord(refreshed, browser);
    assert.equal(kept?.signOn?.refreshingUntil, undefined, 'the mark is cleared by the refresh');
    refreshTokenOf(refreshed, kept ?? record);
    assert.deepEqual(await groupsAt(refreshed.base), ['team-b-viewers']);
  });

  it('keeps a session while the provider cannot be reached until its ID token expires, then answers 503 (the session kept)', async () => {
    const { browser } = await signIn(refreshed, 'dave');
    const record = await sessionRecord(refreshed, browser);
    assert.ok(record?.signOn);
    refreshTokenOf(refreshed, record);
    await refreshing.stop();
    // Past the refresh time (45 s of the minute), not yet the expiry: the request goes through.
    ahead += 50 * 1000;
    const early = await browser.request(new URL(`${refreshed.base}/api/v1/session`));
    assert.equal(early.status, 200, early.body);
    assert.ok(said.some((line) => line.includes('sso session not refreshed')));
    ahead += 60 * 1000;
    const late = await browser.request(new URL(`${refreshed.base}/api/v1/session`));
    assert.equal(late.status, 503, late.body);
    assert.equal((JSON.parse(late.body) as { error: string }).error, 'OIDC_PROVIDER_UNAVAILABLE');
    assert.ok(await sessionRecord(refreshed, browser), 'the session is not ended for an outage');
  });

  it('reads the groups from the userinfo endpoint when the ID token has no groups claim (as with Dex)', async () => {
    const { browser, info } = await signIn(userinfo, 'alice');
    assert.equal(info.user, 'alice');
    assert.deepEqual(info.groups, ['team-a-deployers', 'team-b-viewers']);
    const list = await browser.request(new URL(`${userinfo.base}/api/v1/applications`));
    assert.deepEqual(
      (JSON.parse(list.body) as { items: { namespace: string }[] }).items.map((i) => i.namespace).sort(),
      ['a', 'b'],
    );
  });

  it('ends a user’s session on every replica when they sign out at the provider (back-channel logout), and only that session', async () => {
    const { browser } = await signIn(server, 'alice');
    const other = await signIn(server, 'alice');
    const record = await sessionRecord(server, browser);
    assert.equal(record?.provider?.subject, 'alice');
    assert.ok(record.provider.sid, 'the ID token’s sid is kept with the session');
    const otherRecord = await sessionRecord(server, other.browser);
    assert.notEqual(
      otherRecord?.provider?.sid,
      record.provider.sid,
      'another browser, another provider session',
    );
    const cookie = browser.cookie(server.host, SESSION_COOKIE) ?? '';
    const statusAt = async (s: Served) =>
      (await fetch(`${s.base}/api/v1/session`, { headers: { cookie: `${SESSION_COOKIE}=${cookie}` } }))
        .status;
    for (const s of [server, serverReplica]) assert.equal(await statusAt(s), 200);
    const out = await browser.signOut(provider.issuer, CLIENT_ID);
    assert.ok(out.status < 400, `${out.status} ${out.body.slice(0, 200)}`);
    // The provider posted its logout token (to the replica) before it answered the browser.
    for (const s of [server, serverReplica]) assert.equal(await statusAt(s), 401);
    assert.equal(await sessionRecord(server, browser), undefined);
    assert.equal((await other.browser.request(new URL(`${server.base}/api/v1/session`))).status, 200);
    const trail = await server.store.audit.query({ action: 'logout', actor: 'alice', limit: 5 });
    assert.equal(trail[0]?.changes?.['endedBy'], 'backchannel');
    assert.equal(trail[0].changes['sid'], record.provider.sid);
    assert.equal(trail[0].changes['sessions'], 1);
  });

  it('refuses hostile logout tokens with the check that failed (signature, audience, nonce, expiry, replay) and ends nothing with them', async () => {
    const { browser } = await signIn(server, 'carol');
    const record = await sessionRecord(server, browser);
    assert.ok(record?.provider?.sid);
    const now = Math.floor(Date.now() / 1000);
    const claims = (extra: Record<string, unknown> = {}) => ({
      iss: provider.issuer,
      aud: CLIENT_ID,
      iat: now,
      exp: now + 120,
      jti: randomBytes(8).toString('hex'),
      sub: 'carol',
      sid: record.provider?.sid,
      events: { [LOGOUT_EVENT]: {} },
      ...extra,
    });
    const refusals: [string, string, RegExp][] = [
      [
        'another key',
        provider.sign(claims(), { foreignKey: true }),
        /signature is not the provider’s|signature is not the provider's/,
      ],
      ['no signature', provider.sign(claims(), { header: { alg: 'none' } }), /signed with none/],
      ['another audience', provider.sign(claims({ aud: 'another-client' })), /audience .*another-client/],
      ['another issuer', provider.sign(claims({ iss: 'https://login.example.test' })), /issued by/],
      ['a nonce', provider.sign(claims({ nonce: 'n-1' })), /nonce/],
      ['expired', provider.sign(claims({ iat: now - 1200, exp: now - 1080 })), /expired/],
      ['no event', provider.sign(claims({ events: {} })), /events claim/],
      [
        'neither sub nor sid',
        provider.sign(claims({ sub: undefined, sid: undefined })),
        /neither a sub nor a sid/,
      ],
      ['not a JWT', 'not-a-token', /not a signed JWT/],
    ];
    for (const [what, token, reason] of refusals) {
      const answer = await postLogout(serverReplica, token);
      assert.equal(answer.status, 400, `${what}: ${answer.body}`);
      const body = JSON.parse(answer.body) as { error: string; message: string };
      assert.equal(body.error, 'LOGOUT_TOKEN_INVALID', what);
      assert.match(body.message, reason, what);
      assert.equal(
        (await browser.request(new URL(`${server.base}/api/v1/session`))).status,
        200,
        `${what}: the session stays`,
      );
    }
    const failures = await server.store.audit.query({ action: 'logout', actor: 'oidc-provider', limit: 50 });
    assert.ok(failures.filter((e) => e.result === 'failure').length >= refusals.length);
    // The provider's own token ends the session; the same token again (on the other replica) is a replay.
    const valid = provider.sign(claims());
    assert.equal((await postLogout(serverReplica, valid)).status, 200);
    assert.equal((await browser.request(new URL(`${server.base}/api/v1/session`))).status, 401);
    const replayed = await postLogout(server, valid);
    assert.equal(replayed.status, 400, replayed.body);
    assert.equal((JSON.parse(replayed.body) as { error: string }).error, 'LOGOUT_TOKEN_REPLAYED');
    // A form is taken only there: JSON there, or a form anywhere else, is 415.
    const json = await fetch(`${server.base}${BACKCHANNEL_LOGOUT_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ logout_token: valid }),
    });
    assert.equal(json.status, 415);
    const form = await fetch(`${server.base}/api/v1/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'username=admin&password=x',
    });
    assert.equal(form.status, 415);
  });

  it('never says the client secret: no answer, header, log line or audit entry carries it', async () => {
    const trails = await Promise.all(
      [server, skewed, refreshed, userinfo].map((s) => s.store.audit.query({ limit: 500 })),
    );
    const everything = [...said, JSON.stringify(trails)].join('\n');
    assert.ok(said.length > 20, `${said.length} answers and log lines swept`);
    assert.equal(everything.includes(CLIENT_SECRET), false);
    // Nor a refresh token (the tests saw 4 and more).
    assert.ok(refreshTokens.length >= 7);
    for (const token of refreshTokens) assert.equal(everything.includes(token), false);
  });
});
