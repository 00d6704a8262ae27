// The OCI client's tag listing, page by page as the distribution specification describes it
// (`GET /v2/<name>/tags/list?n=…&last=…`, a `Link: <…>; rel="next"` header while more remain). The
// registry of the integration tier (Debian's docker-registry, distribution 2.8) answers every tag
// in one page whatever `n` asks, so the pages are served here by a loopback HTTPS server that
// answers as the specification's example does (and as distribution 3 and other registries do): all
// pages followed, a next page on another host or path refused, more tags than the bound an error, an
// answer that is not JSON an error naming the registry.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { OciRegistry } from '../../../src/adapters/registry/oci-registry.ts';
import { createPki, signLoopbackServerCertificate } from '../../../src/devcluster/pki.ts';

const TAGS = Array.from({ length: 7 }, (_, i) => `1.${String(i)}.0`);
let root: string;
let server: Server;
let ca: string;
let address: string;
/** The paths and queries the server was asked, in order. */
const requests: string[] = [];

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'capstan-oci-tags-'));
  const pki = await createPki(join(root, 'pki'));
  const tls = await signLoopbackServerCertificate(pki, 'tags');
  ca = await readFile(pki.caCert, 'utf8');
  server = createServer({ cert: await readFile(tls.cert), key: await readFile(tls.key) }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    requests.push(`${url.pathname}${url.search}`);
    const page = /^\/v2\/(.+)\/tags\/list$/.exec(url.pathname)?.[1];
    if (page === 'bad/json') return void res.writeHead(200).end('<html>');
    if (page === 'bad/elsewhere')
      return void res
        .writeHead(200, { link: '<https://127.0.0.2:1/v2/bad/elsewhere/tags/list?n=2>; rel="next"' })
        .end(JSON.stringify({ name: page, tags: ['1.0.0'] }));
    if (page === undefined) return void res.writeHead(404).end();
    // The specification's pages: `n` tags after `last`, and a Link to the next page while more remain.
    const n = Number(url.searchParams.get('n') ?? '1000');
    const last = url.searchParams.get('last');
    const start = last === null ? 0 : TAGS.indexOf(last) + 1;
    const tags = TAGS.slice(start, start + n);
    const more = start + n < TAGS.length;
    res
      .writeHead(200, {
        'content-type': 'application/json',
        ...(more
          ? { link: `</v2/${page}/tags/list?n=${String(n)}&last=${tags.at(-1) ?? ''}>; rel="next"` }
          : {}),
      })
      .end(JSON.stringify({ name: page, tags }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  address = `127.0.0.1:${String((server.address() as AddressInfo).port)}`;
});

after(async () => {
  await new Promise<void>((resolve) =>
    server.close(() => {
      resolve();
    }),
  );
  await rm(root, { recursive: true, force: true });
});

const client = () => new OciRegistry({ registry: address, ca, attempts: 1 });

describe('listing the tags of a repository', () => {
  it('follows the Link header page by page', async () => {
    requests.length = 0;
    assert.deepEqual(await client().tags('team/hello', { pageSize: 3 }), TAGS);
    assert.deepEqual(requests, [
      '/v2/team/hello/tags/list?n=3',
      '/v2/team/hello/tags/list?n=3&last=1.2.0',
      '/v2/team/hello/tags/list?n=3&last=1.5.0',
    ]);
  });

  it('stops at the bound, with an error', async () => {
    await assert.rejects(client().tags('team/hello', { pageSize: 2, maxTags: 5 }), {
      code: 'PIPELINE_REGISTRY_FAILED',
      message: new RegExp(`^${address}/team/hello \\(its tags\\): more than 5 tags`),
    });
  });

  it('refuses a next page elsewhere, and an answer that is not JSON', async () => {
    await assert.rejects(client().tags('bad/elsewhere'), {
      message: new RegExp(`^${address}/bad/elsewhere: the next page of tags is elsewhere`),
    });
    await assert.rejects(client().tags('bad/json'), {
      message: new RegExp(`^${address}/bad/json \\(its tags\\): the registry's answer is not JSON`),
    });
  });
});
