// Charts of Helm repositories as a source: hostile archives (paths out of the chart's folder, links,
// a second top folder, a gzip bomb), a repository that never answers, a version republished with other
// bytes. Archives are built here byte by byte (a tar as Go's and helm's writers lay it out) and served
// by a real HTTP server on loopback.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { access, mkdtemp, readdir, readFile, rm, utimes } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { readChartArchive } from '../../../src/adapters/render/chart-archive.ts';
import { ChartRepository } from '../../../src/adapters/render/chart-repository.ts';
import { ChartSourceFetcher, type ChartCacheBounds } from '../../../src/adapters/render/chart-source.ts';
import { CapstanError } from '../../../src/core/errors.ts';

interface Entry {
  name: string;
  data?: string;
  type?: string;
  pax?: string;
}

/** A ustar archive: a 512-byte header per entry (name, size in octal, type, checksum), data padded to 512. */
function tar(entries: readonly Entry[]): Buffer {
  const blocks: Buffer[] = [];
  const header = (name: string, size: number, type: string): Buffer => {
    const block = Buffer.alloc(512);
    block.write(name.slice(0, 100), 0, 'utf8');
    block.write('0000644\0', 100, 'latin1');
    block.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
    block.write(type, 156, 'latin1');
    block.write('ustar\x0000', 257, 'latin1');
    block.write('        ', 148, 'latin1');
    const sum = block.reduce((total, byte) => total + byte, 0);
    block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    return block;
  };
  const data = (text: string): Buffer => {
    const bytes = Buffer.from(text);
    return Buffer.concat([bytes, Buffer.alloc((512 - (bytes.length % 512)) % 512)]);
  };
  for (const entry of entries) {
    if (entry.pax !== undefined) {
      const record = ` path=${entry.pax}\n`;
      let length = record.length + 2;
      if (`${length}${record}`.length !== length) length += 1;
      const body = `${length}${record}`;
      blocks.push(header('PaxHeaders/x', Buffer.byteLength(body), 'x'), data(body));
    }
    const text = entry.data ?? '';
    blocks.push(header(entry.name, Buffer.byteLength(text), entry.type ?? '0'), data(text));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

const chart = (extra: readonly Entry[] = []): Buffer =>
  gzipSync(
    tar([
      { name: 'web/', type: '5' },
      { name: 'web/Chart.yaml', data: 'apiVersion: v2\nname: web\nversion: 1.0.0\n' },
      { name: 'web/templates/a.yaml', data: 'kind: ConfigMap\n' },
      ...extra,
    ]),
  );

async function refusal(archive: Buffer): Promise<CapstanError> {
  const error = await readChartArchive(archive, 'chart web 1.0.0').then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(error instanceof CapstanError, `expected a refusal, got ${String(error)}`);
  return error;
}

describe('readChartArchive', () => {
  it('reads the files below the chart folder, long names from PAX headers too', async () => {
    const long = `web/templates/${'x'.repeat(120)}.yaml`;
    const entries = await readChartArchive(chart([{ name: 'web/ignored', pax: long, data: 'a: 1\n' }]), 'c');
    assert.deepEqual(
      entries.map((e) => `${e.kind} ${e.path}`),
      ['folder ', 'file Chart.yaml', 'file templates/a.yaml', `file ${long.slice(4)}`],
    );
  });

  it('refuses paths out of the chart folder, links, a second chart, and a bomb', async () => {
    assert.match(
      (await refusal(chart([{ name: 'web/../../etc/passwd', data: 'x' }]))).message,
      /chart web 1\.0\.0: the entry web\/\.\.\/\.\.\/etc\/passwd leaves the chart's folder/,
    );
    assert.equal((await refusal(chart([{ name: '/etc/passwd', data: 'x' }]))).code, 'RENDER_PATH_ESCAPE');
    assert.match(
      (await refusal(chart([{ name: 'web/templates/b.yaml', type: '2' }]))).message,
      /web\/templates\/b\.yaml is a symbolic link; a chart holds only files and folders/,
    );
    assert.match(
      (await refusal(chart([{ name: 'other/Chart.yaml', data: 'x' }]))).message,
      /other\/Chart\.yaml is outside the chart's folder web\//,
    );
    const bomb = gzipSync(tar([{ name: 'web/big', data: 'a'.repeat(80 * 1024 * 1024) }]));
    const tooLarge = await readChartArchive(bomb, 'chart web 1.0.0', {
      maxBytes: 1024 * 1024,
      maxEntries: 10,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(tooLarge instanceof CapstanError);
    assert.equal(tooLarge.code, 'RENDER_TOO_LARGE');
    assert.match((await refusal(Buffer.from('not gzip'))).message, /is not a gzip'd tar/);
  });
});

describe('ChartSourceFetcher', () => {
  const root = mkdtemp(join(tmpdir(), 'capstan-chart-source-'));
  after(async () => rm(await root, { recursive: true, force: true }));

  /** An HTTP chart repository on loopback serving the archives given for `web` (the index names their digests). */
  async function repository(
    archives: Map<string, Buffer>,
    options: { hang?: boolean; index?: () => Buffer | string } = {},
  ) {
    const digest = (archive: Buffer | undefined) =>
      createHash('sha256')
        .update(archive ?? '')
        .digest('hex');
    const server: Server = createServer((req, res) => {
      if (options.hang === true) return; // accepts, never answers
      const path = req.url ?? '/';
      if (path === '/index.yaml' && options.index) {
        res.end(options.index());
        return;
      }
      if (path === '/index.yaml') {
        const entries = [...archives.keys()]
          .map((v) => `  - version: ${v}\n    digest: ${digest(archives.get(v))}\n    urls: [web-${v}.tgz]\n`)
          .join('');
        res.end(`apiVersion: v1\nentries:\n  web:\n${entries}`);
        return;
      }
      const version = /^\/web-(.+)\.tgz$/.exec(path)?.[1];
      const archive = version === undefined ? undefined : archives.get(version);
      if (archive) res.end(archive);
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    after(() => {
      server.closeAllConnections();
      server.close();
    });
    const address = server.address();
    return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  }

  async function fetcher(name: string, timeoutMs?: number, bounds?: ChartCacheBounds) {
    const cacheDir = join(await root, name);
    return {
      cacheDir,
      fetcher: new ChartSourceFetcher({
        cacheDir: join(cacheDir, 'sources'),
        charts: new ChartRepository({ cacheDir, ...(timeoutMs === undefined ? {} : { timeoutMs }) }),
        ...(timeoutMs === undefined ? {} : { timeoutMs }),
        ...(bounds === undefined ? {} : { bounds }),
      }),
    };
  }
  const http = { allowInsecureHttp: true };

  it('resolves the newest version in a range, unpacks it into a folder of its name, and keeps it', async () => {
    const url = await repository(
      new Map([
        ['1.0.0', chart()],
        ['1.1.0', chart()],
        ['2.0.0', chart()],
      ]),
    );
    const { fetcher: source } = await fetcher('resolve');
    const spec = { repoURL: url, chart: 'web', targetRevision: '^1.0.0' };
    const revision = await source.resolve(spec, http);
    assert.match(revision.sha, /^1\.1\.0@sha256:[0-9a-f]{64}$/);
    assert.equal(revision.ref, 'web 1.1.0');
    const tree = await source.checkout(spec, revision, http);
    assert.equal(await readFile(join(tree.dir, 'web', 'templates', 'a.yaml'), 'utf8'), 'kind: ConfigMap\n');
    assert.equal(tree.commit.subject, 'chart web 1.1.0');
    const ids = await source.contentIds(spec, tree, ['web', 'web/values.yaml']);
    assert.deepEqual([...ids.values()], [revision.sha, revision.sha]);
  });

  it('reads the index: an exact version, a range that leaves out pre-releases, and says which versions there are', async () => {
    const url = await repository(
      new Map([
        ['1.0.0', chart()],
        ['1.3.0-rc.1', chart()],
        ['1.2.0', chart()],
      ]),
    );
    const { fetcher: source } = await fetcher('index');
    const resolve = (targetRevision: string) =>
      source.resolve({ repoURL: url, chart: 'web', targetRevision }, http);
    assert.match((await resolve('1.0.0')).sha, /^1\.0\.0@/);
    assert.match((await resolve('^1.0.0')).sha, /^1\.2\.0@/);
    assert.match((await resolve('*')).sha, /^1\.2\.0@/);
    assert.match((await resolve('>=1.3.0-rc.0')).sha, /^1\.3\.0-rc\.1@/);
    await assert.rejects(
      resolve('2.x'),
      /chart web 2\.x from .*: no version in 2\.x \(it has 1\.3\.0-rc\.1, 1\.2\.0, 1\.0\.0\)/,
    );
    await assert.rejects(
      resolve('not a range'),
      /web: version 'not a range' is neither a version nor a range/,
    );
    await assert.rejects(
      source.resolve({ repoURL: url, chart: 'api', targetRevision: '*' }, http),
      /chart api \* from .*: the repository has no chart of that name/,
    );
  });

  it('refuses an index that is not one, and one larger than the limit without reading it whole', async () => {
    const broken = await repository(new Map(), { index: () => 'entries: [unclosed' });
    const huge = await repository(new Map(), { index: () => Buffer.alloc(33 * 1024 * 1024, 0x20) });
    const { fetcher: source } = await fetcher('bad-index');
    await assert.rejects(
      source.resolve({ repoURL: broken, chart: 'web', targetRevision: '*' }, http),
      /index\.yaml is not a chart repository index/,
    );
    const error = await source.resolve({ repoURL: huge, chart: 'web', targetRevision: '*' }, http).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(error instanceof CapstanError);
    assert.equal(error.code, 'RENDER_TOO_LARGE');
    assert.match(error.message, /index\.yaml is more than 33554432 bytes; it was not read/);
  });

  it('refuses a hostile archive and writes nothing outside its cache', async () => {
    const url = await repository(new Map([['1.0.0', chart([{ name: 'web/../../escaped', data: 'x' }])]]));
    const { fetcher: source, cacheDir } = await fetcher('hostile');
    const spec = { repoURL: url, chart: 'web', targetRevision: '1.0.0' };
    const revision = await source.resolve(spec, http);
    await assert.rejects(source.checkout(spec, revision, http), /leaves the chart's folder/);
    assert.deepEqual(await readdir(await root).then((names) => names.includes('escaped')), false);
    // Nothing half-unpacked is left to be taken for a chart later.
    assert.deepEqual(await readdir(join(cacheDir, 'sources')).catch(() => []), []);
  });

  it('refuses a recorded version whose archive the repository has since replaced', async () => {
    const archives = new Map([['1.0.0', chart()]]);
    const url = await repository(archives);
    const { fetcher: source } = await fetcher('republished');
    const spec = { repoURL: url, chart: 'web', targetRevision: '1.0.0' };
    const revision = await source.resolve(spec, http);
    archives.set('1.0.0', chart([{ name: 'web/templates/b.yaml', data: 'kind: Secret\n' }]));
    await assert.rejects(
      source.checkout(spec, revision, http),
      /chart web 1\.0\.0 from http:\/\/127\.0\.0\.1:\d+ is now sha256:[0-9a-f]{64}, not sha256:[0-9a-f]{64} as recorded/,
    );
  });

  it('gives up on a repository that never answers, with a clear error', async () => {
    const url = await repository(new Map(), { hang: true });
    const { fetcher: source } = await fetcher('hanging', 300);
    const error = await source.resolve({ repoURL: url, chart: 'web', targetRevision: '*' }, http).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(error instanceof CapstanError);
    assert.equal(error.code, 'RENDER_CHART_UNREACHABLE');
    assert.match(
      error.message,
      /^web: http:\/\/127\.0\.0\.1:\d+\/index\.yaml: |no complete answer within 300 ms/,
    );
  });

  describe('its cache on disk (helm/sources) is bounded, least recently used first out', () => {
    const versions = ['1.0.0', '1.1.0', '1.2.0'];
    const present = (dir: string) =>
      access(dir).then(
        () => true,
        () => false,
      );
    /** Checks out each version once, each folder's last use set hours apart (oldest first). */
    async function checkedOut(name: string, bounds: ChartCacheBounds) {
      const url = await repository(new Map(versions.map((v) => [v, chart()])));
      const { fetcher: source } = await fetcher(name, undefined, bounds);
      const checkout = async (version: string) => {
        const spec = { repoURL: url, chart: 'web', targetRevision: version };
        return (await source.checkout(spec, await source.resolve(spec, http), http)).dir;
      };
      return { checkout };
    }
    const hoursAgo = (hours: number) => new Date(Date.now() - hours * 3_600_000);

    it('past maxCharts, removes the chart used longest ago (a checkout counts as a use)', async () => {
      const { checkout } = await checkedOut('bound-count', { maxCharts: 2, minIdleMs: 0 });
      const first = await checkout('1.0.0');
      await utimes(first, hoursAgo(3), hoursAgo(3));
      const second = await checkout('1.1.0');
      await utimes(second, hoursAgo(2), hoursAgo(2));
      assert.equal(await checkout('1.0.0'), first, 'kept: the same folder');
      const third = await checkout('1.2.0');
      assert.deepEqual(
        await Promise.all([first, second, third].map(present)),
        [true, false, true],
        'the chart used longest ago (1.1.0) went; 1.0.0 was used again',
      );
      // A removed chart is unpacked again on its next checkout.
      assert.equal(await checkout('1.1.0'), second);
      assert.equal(await readFile(join(second, 'web', 'templates', 'a.yaml'), 'utf8'), 'kind: ConfigMap\n');
    });

    it('the downloaded archives (helm/charts) are bounded too, least recently used first out', async () => {
      const url = await repository(
        new Map(versions.map((v) => [v, chart([{ name: `web/${v}.txt`, data: v }])])),
      );
      const cacheDir = join(await root, 'bound-archives');
      const charts = new ChartRepository({ cacheDir, bounds: { maxArchives: 2, minIdleMs: 0 } });
      const pull = (version: string) =>
        charts.pull({
          repository: url,
          name: 'web',
          version,
          credentials: [],
          allowHttp: true,
          maxBytes: 1 << 20,
        });
      const archives = async () => (await readdir(join(cacheDir, 'charts'))).sort();
      const first = await pull('1.0.0');
      const file = join(cacheDir, 'charts', `${first.digest.replace(':', '-')}.tgz`);
      await utimes(file, hoursAgo(3), hoursAgo(3));
      await pull('1.1.0');
      assert.equal((await archives()).length, 2);
      await pull('1.2.0');
      const kept = await archives();
      assert.equal(kept.length, 2);
      assert.ok(!kept.includes(`${first.digest.replace(':', '-')}.tgz`), 'the archive used longest ago went');
    });

    it('past maxBytes, removes the oldest until the rest fit; never one used within minIdleMs', async () => {
      const { checkout } = await checkedOut('bound-bytes', { maxBytes: 100, minIdleMs: 3_600_000 });
      const first = await checkout('1.0.0');
      await utimes(first, hoursAgo(2), hoursAgo(2));
      const second = await checkout('1.1.0');
      // Each chart holds 57 bytes of files: two are past 100; the one idle for two hours goes.
      assert.deepEqual(await Promise.all([first, second].map(present)), [false, true]);
      const third = await checkout('1.2.0');
      // Past the bound again, but 1.1.0 was used within the hour: kept, whatever the bytes.
      assert.deepEqual(await Promise.all([second, third].map(present)), [true, true]);
    });
  });
});
