/**
 * Helm repositories for tests, both real: an HTTP chart repository (charts packaged by the real helm,
 * its index.yaml written by `helm repo index`, served on loopback with Basic auth) and an OCI registry
 * (Debian's docker-registry, TLS with a CA of its own and htpasswd auth, as the dev cluster runs it),
 * charts pushed to it with `helm push`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { basename, join, normalize } from 'node:path';
import { ensureBinaries } from '../devcluster/binaries.ts';
import { cleanEnv, run } from '../devcluster/exec.ts';
import { createPki } from '../devcluster/pki.ts';
import { freePort } from '../devcluster/ports.ts';
import { startProcess, stopProcess } from '../devcluster/processes.ts';
import { prepareRegistry, registryPassword, waitRegistryReady } from '../devcluster/registry.ts';

/** A chart to publish: a chart folder, its version written into a copy of its Chart.yaml. */
export interface ChartToPublish {
  readonly folder: string;
  readonly version: string;
}

export interface ChartServer {
  /** `http://127.0.0.1:<port>/charts`. */
  readonly url: string;
  readonly username: string;
  readonly password: string;
  /** Paths asked for, in order (to see what was downloaded and what came from a cache). */
  readonly requests: string[];
  /** Packages the charts, adds them to the index and serves them. */
  publish(charts: readonly ChartToPublish[]): Promise<void>;
  /** Overwrites a published archive with other bytes (its index digest stays): a tampered repository. */
  tamper(file: string): Promise<void>;
}

async function helm(): Promise<string> {
  return join(await ensureBinaries(), 'helm');
}

/** Packages a copy of the chart at the version asked; returns the archive's path. */
async function packageChart(chart: ChartToPublish, into: string, work: string): Promise<string> {
  const copy = join(work, randomBytes(4).toString('hex'));
  await cp(chart.folder, copy, { recursive: true });
  const file = join(copy, 'Chart.yaml');
  const text = await readFile(file, 'utf8');
  await writeFile(file, text.replace(/^version: .*$/m, `version: ${chart.version}`));
  const { stdout } = await run(await helm(), ['package', copy, '--destination', into], {
    env: cleanEnv({ HOME: work }),
  });
  return stdout.trim().replace(/^.*saved it to: /s, '');
}

/** An HTTP chart repository on loopback, with Basic auth; stopped when `after` runs. */
export async function startChartServer(
  after: (fn: () => Promise<void>) => void,
  credentials: { username: string; password: string } = {
    username: 'charts',
    password: randomBytes(12).toString('hex'),
  },
): Promise<ChartServer> {
  const root = await mkdtemp(join(tmpdir(), 'capstan-charts-'));
  const served = join(root, 'charts');
  await mkdir(served);
  const { username, password } = credentials;
  const expected = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    requests.push(path);
    if (req.headers.authorization !== expected) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="charts"' }).end();
      return;
    }
    const relative = normalize(path).replace(/^\/charts\//, '');
    if (!path.startsWith('/charts/') || relative.includes('..') || relative.includes('/')) {
      res.writeHead(404).end();
      return;
    }
    const file = join(served, relative);
    stat(file).then(
      () => {
        res.writeHead(200);
        createReadStream(file).pipe(res);
      },
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const url = `http://127.0.0.1:${port}/charts`;
  after(async () => {
    await new Promise<void>((resolve) =>
      server.close(() => {
        resolve();
      }),
    );
    await rm(root, { recursive: true, force: true });
  });
  return {
    url,
    username,
    password,
    requests,
    async publish(charts) {
      for (const chart of charts) await packageChart(chart, served, root);
      await run(await helm(), ['repo', 'index', served, '--url', url], { env: cleanEnv({ HOME: root }) });
    },
    async tamper(file) {
      const path = join(served, file);
      const bytes = await readFile(path);
      bytes[bytes.length - 1] = (bytes.at(-1) ?? 0) ^ 0xff;
      await writeFile(path, bytes);
    },
  };
}

export interface OciRegistry {
  /** `127.0.0.1:<port>` (TLS). */
  readonly address: string;
  readonly username: string;
  readonly password: string;
  /** PEM of the CA that signed the registry's certificate. */
  readonly ca: string;
  /** Packages the chart and pushes it to `oci://<address>/<path>/<name>:<version>`. */
  push(chart: ChartToPublish, path: string): Promise<void>;
  /**
   * Overwrites the stored layer of an archive pushed before (`database-1.5.0.tgz`) with other bytes; its
   * manifest still names the layer's digest: a tampered registry.
   */
  tamper(archive: string): Promise<void>;
}

/** Debian's docker-registry with TLS and Basic auth on loopback; stopped when `after` runs. */
export async function startOciRegistry(after: (fn: () => Promise<void>) => void): Promise<OciRegistry> {
  const root = await mkdtemp(join(tmpdir(), 'capstan-oci-'));
  const pki = await createPki(join(root, 'pki'));
  const port = await freePort();
  const { state, start } = await prepareRegistry({ root, pki, port, logs: root });
  const record = startProcess(start);
  after(async () => {
    await stopProcess(record);
    await rm(root, { recursive: true, force: true });
  });
  await waitRegistryReady(state, record, Date.now() + 15_000);
  const password = registryPassword(state);
  const home = join(root, 'helm-home');
  await mkdir(home);
  const env = cleanEnv({ HOME: home, HELM_REGISTRY_CONFIG: join(home, 'registry.json') });
  await run(
    await helm(),
    [
      'registry',
      'login',
      state.address,
      '--username',
      state.username,
      '--password-stdin',
      '--ca-file',
      state.caFile,
    ],
    { env, input: password },
  );
  const layers = new Map<string, string>();
  return {
    address: state.address,
    username: state.username,
    password,
    ca: await readFile(state.caFile, 'utf8'),
    async push(chart, path) {
      const archive = await packageChart(chart, root, root);
      layers.set(
        basename(archive),
        createHash('sha256')
          .update(await readFile(archive))
          .digest('hex'),
      );
      await run(
        await helm(),
        ['push', archive, `oci://${state.address}/${path}`, '--ca-file', state.caFile],
        {
          env,
        },
      );
    },
    async tamper(archive) {
      const hex = layers.get(archive);
      if (hex === undefined) throw new Error(`${archive} was not pushed`);
      // The filesystem storage driver's layout: blobs/sha256/<first two>/<hex>/data.
      const data = join(
        state.dataDir,
        'docker',
        'registry',
        'v2',
        'blobs',
        'sha256',
        hex.slice(0, 2),
        hex,
        'data',
      );
      const bytes = await readFile(data);
      bytes[bytes.length - 1] = (bytes.at(-1) ?? 0) ^ 0xff;
      await writeFile(data, bytes);
    },
  };
}
