import { randomBytes } from 'node:crypto';
import { readdir, stat, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { GitServer } from '../../devcluster/gitserver.ts';
import { EXIT, UsageError } from '../output.ts';

export const DEV_GIT_SERVER_HELP = `Usage: capstan dev-git-server --root DIR --state FILE [--port N] [--host ADDR] [--anonymous-fetch] [--seed NAME=DIR]...

A git server over smart HTTP with basic auth on 127.0.0.1 (or --host), for the local demo and the
pipeline tests. --anonymous-fetch lets fetches in without credentials (pushes still need them).
Writes its URL and credentials to the state file (mode 0600) and serves until SIGTERM or SIGINT.
`;

export async function devGitServer(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      root: { type: 'string' },
      state: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      'anonymous-fetch': { type: 'boolean' },
      seed: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) {
    process.stdout.write(DEV_GIT_SERVER_HELP);
    return EXIT.ok;
  }
  if (!values.root || !values.state) throw new UsageError('--root and --state are required');
  const password = randomBytes(18).toString('base64url');
  const server = await GitServer.start({
    root: values.root,
    username: 'capstan',
    password,
    ...(values.port ? { port: Number(values.port) } : {}),
    ...(values.host ? { host: values.host } : {}),
    anonymousFetch: values['anonymous-fetch'] === true,
  });
  for (const seed of values.seed ?? []) {
    const [name, dir] = seed.split('=', 2);
    if (!name || !dir) throw new UsageError(`--seed must be NAME=DIR, not '${seed}'`);
    const exists = await stat(`${values.root}/repos/${name}.git`).then(
      () => true,
      () => false,
    );
    if (!exists && (await readdir(dir)).length > 0)
      await server.createRepository(name, { fromDir: dir, message: 'demo configuration' });
  }
  await writeFile(
    values.state,
    JSON.stringify({
      url: server.baseUrl,
      port: server.port,
      username: server.username,
      password,
      pid: process.pid,
    }) + '\n',
    { mode: 0o600 },
  );
  process.stderr.write(`git server on ${server.baseUrl} (root ${values.root})\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await server.stop();
  return EXIT.ok;
}
