import { parseArgs } from 'node:util';
import {
  configPath,
  login as serverLogin,
  readLogin,
  removeLogin,
  ServerClient,
  writeLogin,
  type ServerLogin,
} from '../server-client.ts';
import { ssoLogin } from '../sso-login.ts';
import { EXIT, UsageError } from '../output.ts';

export const LOGIN_HELP = `Usage: capstan login SERVER [options]
       capstan logout

Logs in to a capstan server (https://capstan.example.com, or http://127.0.0.1:8080 locally) and keeps
the login in $XDG_CONFIG_HOME/capstan/login.json (~/.config/capstan/login.json; readable by you only,
mode 0600; CAPSTAN_CONFIG names another file). Then 'capstan app list|get|sync|refresh|rollback|
release-hold' and 'capstan audit' go through the server, unless --kubeconfig or --context is given.

Options:
  --username NAME      a local user (default: admin); the password is read from standard input
                       (--password-stdin) or asked for on the terminal
  --password-stdin     read the password from standard input
  --token-stdin        log in with an API token read from standard input (for CI)
  --sso                single sign-on with the server's OpenID provider: prints a URL to open in a
                       browser, and waits (5 minutes) for the browser to come back to a loopback port
  -h, --help           this help
`;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

export async function login(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: true,
    options: {
      username: { type: 'string' },
      'password-stdin': { type: 'boolean' },
      'token-stdin': { type: 'boolean' },
      sso: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) {
    process.stdout.write(LOGIN_HELP);
    return EXIT.ok;
  }
  const [server, ...rest] = positionals;
  if (server === undefined || rest.length > 0) throw new UsageError('capstan login takes one SERVER address');
  if (!/^https?:\/\/[^/]+/.test(server))
    throw new UsageError(`SERVER must be an http(s):// address, not '${server}'`);
  const ways = [values['password-stdin'], values['token-stdin'], values.sso].filter((v) => v === true);
  if (ways.length > 1) throw new UsageError('give one of --password-stdin, --token-stdin or --sso');
  if (values.sso === true) return keep(await ssoLogin(server, { onUrl: printUrl }));
  if (values['token-stdin'] !== true && values['password-stdin'] !== true)
    throw new UsageError(
      'give --password-stdin (with --username), --token-stdin or --sso: a secret is read from standard input, never from a flag',
    );
  const secret = await readStdin();
  if (secret === '') throw new UsageError('standard input was empty');
  const stored =
    values['token-stdin'] === true
      ? await serverLogin(server, { token: secret })
      : await serverLogin(server, { password: { user: values.username ?? 'admin', password: secret } });
  return keep(stored);
}

async function keep(stored: ServerLogin): Promise<number> {
  await writeLogin(stored);
  process.stderr.write(`Logged in to ${stored.server} as ${stored.user} (kept in ${configPath()}).\n`);
  return EXIT.ok;
}

function printUrl(url: string): void {
  process.stderr.write(`Open this address in a browser to log in:\n\n  ${url}\n\nWaiting for the browser…\n`);
}

export async function logout(argv: readonly string[]): Promise<number> {
  if (argv.length === 1 && (argv[0] === '--help' || argv[0] === '-h')) {
    process.stdout.write(LOGIN_HELP);
    return EXIT.ok;
  }
  if (argv.length > 0) throw new UsageError('capstan logout takes no arguments');
  const stored = await readLogin();
  if (!stored) {
    process.stderr.write('Not logged in.\n');
    return EXIT.ok;
  }
  await new ServerClient(stored).logout().catch(() => undefined);
  await removeLogin();
  process.stderr.write(`Logged out of ${stored.server}.\n`);
  return EXIT.ok;
}
