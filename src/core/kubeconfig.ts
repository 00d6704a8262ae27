/**
 * Kubeconfigs from untrusted places (a cluster Secret): parsed with limits and reduced to one context
 * with inline credentials only. Pure: text in, a flat kubeconfig or a CapstanError out.
 *
 * A kubeconfig can make its reader run programs (`exec`, `auth-provider`) and read files
 * (`certificate-authority`, `client-certificate`, `client-key`, `tokenFile`). The agent reads
 * kubeconfigs that anyone able to write a Secret in its namespace can write, so each of these is
 * refused; only inline data is taken. The CLI reads the user's own kubeconfig and passes `readFile`
 * to inline the files it names. Errors name fields, never values: credentials stay in the Secret.
 */
import { isDocument, LineCounter, parseDocument, visit } from 'yaml';
import { CapstanError } from './errors.ts';
import { findTooDeep } from './nesting.ts';

/** One cluster, one user, inline credentials: what a cluster Secret's kubeconfig is reduced to. */
export interface FlatKubeconfig {
  /** The context it came from. */
  readonly context: string;
  readonly cluster: {
    readonly name: string;
    /** `https://host:port` (or http), without credentials. */
    readonly server: string;
    /** Base64 PEM. */
    readonly certificateAuthorityData?: string;
    readonly insecureSkipTlsVerify?: boolean;
    readonly tlsServerName?: string;
  };
  readonly user: {
    readonly name: string;
    readonly token?: string;
    /** Base64 PEM. */
    readonly clientCertificateData?: string;
    /** Base64 PEM. */
    readonly clientKeyData?: string;
    readonly username?: string;
    readonly password?: string;
  };
  /** The context's namespace, if it names one. */
  readonly namespace?: string;
}

export interface FlattenOptions {
  /** What the kubeconfig is, for errors: `Secret/capstan-system/prod (key kubeconfig)`, a file path. */
  readonly source: string;
  /** The context to take; default the kubeconfig's current-context. */
  readonly context?: string | undefined;
  /**
   * Reads a file a kubeconfig field names (the CLI, on the user's own kubeconfig). Absent: fields that
   * name files are refused (the agent).
   */
  readonly readFile?: (path: string, field: string) => Uint8Array;
}

/** Largest kubeconfig text read (a Secret holds 1 MiB at most). */
export const MAX_KUBECONFIG_BYTES = 1024 * 1024;
/** Deepest nesting of a kubeconfig (a real one nests about six levels; extensions a few more). */
export const MAX_KUBECONFIG_DEPTH = 64;

const CLUSTER_FIELDS = new Set([
  'server',
  'certificate-authority-data',
  'certificate-authority',
  'insecure-skip-tls-verify',
  'tls-server-name',
  'disable-compression',
  'extensions',
]);
const USER_FIELDS = new Set([
  'token',
  'client-certificate-data',
  'client-key-data',
  'username',
  'password',
  'client-certificate',
  'client-key',
  'tokenFile',
  'token-file',
  'extensions',
]);
const CONTEXT_FIELDS = new Set(['cluster', 'user', 'namespace', 'extensions']);
const PROGRAM_FIELDS = new Set(['exec', 'auth-provider']);
const IMPERSONATION_FIELDS = new Set(['as', 'as-uid', 'as-groups', 'as-user-extra']);
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const TOKEN = /^[\x21-\x7e]+$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

type Fields = Record<string, unknown>;

/** Parses kubeconfig text (YAML or JSON) and reduces it to one context: see FlatKubeconfig. */
export function parseKubeconfig(text: string, options: FlattenOptions): FlatKubeconfig {
  return flattenKubeconfig(parseKubeconfigText(text, options.source), options);
}

/** The YAML document of a kubeconfig, read as client-go reads it (YAML 1.1), with limits. */
export function parseKubeconfigText(text: string, source: string): unknown {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_KUBECONFIG_BYTES)
    throw invalid(source, `${bytes} bytes is more than the limit of ${MAX_KUBECONFIG_BYTES} bytes`);
  if (text.trim() === '') throw invalid(source, 'it is empty');
  // Deep nesting is refused from the raw text: a parser takes seconds over a megabyte of `[[[[`.
  const deep = findTooDeep(text, MAX_KUBECONFIG_DEPTH);
  if (deep !== undefined) {
    throw invalid(
      source,
      `it nests more than ${MAX_KUBECONFIG_DEPTH} levels deep (line ${deep.line}, column ${deep.column})`,
    );
  }
  const lineCounter = new LineCounter();
  const document = parseDocument(text, {
    version: '1.1',
    uniqueKeys: true,
    prettyErrors: false,
    lineCounter,
  });
  const [error] = document.errors;
  // The parser's message may quote the text (a token); only its code and position are reported.
  if (error) {
    const { line, col } = lineCounter.linePos(error.pos[0]);
    throw invalid(source, `not valid YAML (${error.code} at line ${line}, column ${col})`);
  }
  let aliases = 0;
  if (isDocument(document))
    visit(document, {
      Alias() {
        aliases += 1;
      },
    });
  if (aliases > 0) throw invalid(source, 'YAML aliases are not allowed in a kubeconfig');
  return document.toJS({ maxAliasCount: 0 }) as unknown;
}

/** Reduces a parsed kubeconfig to one context with inline credentials; refuses programs and files. */
export function flattenKubeconfig(document: unknown, options: FlattenOptions): FlatKubeconfig {
  const { source } = options;
  if (!isFields(document)) throw invalid(source, 'it is not a YAML mapping (apiVersion: v1, kind: Config)');
  if (document['kind'] !== undefined && document['kind'] !== 'Config')
    throw invalid(source, `kind must be Config, not ${JSON.stringify(document['kind'])}`);
  const contextName = options.context ?? document['current-context'];
  if (typeof contextName !== 'string' || contextName === '')
    throw invalid(source, 'it has no current-context; name one (the key context, or --context)');
  const contexts = namedEntries(document, 'contexts', 'context', source);
  const found = contexts.get(contextName);
  if (!found) {
    const names = [...contexts.keys()];
    throw invalid(
      source,
      `context '${contextName}' is not in it (contexts: ${names.length > 0 ? names.join(', ') : 'none'})`,
    );
  }
  const context = found.fields;
  const at = `${found.path}.context`;
  refuseUnknown(context, CONTEXT_FIELDS, at, source);
  const clusterName = stringField(context, 'cluster', at, source);
  if (clusterName === undefined) throw invalid(source, `${at}.cluster is missing`);
  const userName = stringField(context, 'user', at, source);
  if (userName === undefined)
    throw invalid(source, `${at}.user is missing: a cluster needs credentials (a ServiceAccount token)`);
  const namespace = stringField(context, 'namespace', at, source);
  if (namespace !== undefined && !DNS_LABEL.test(namespace))
    throw invalid(source, `${at}.namespace is not a namespace name`);

  const cluster = namedEntries(document, 'clusters', 'cluster', source).get(clusterName);
  if (!cluster) throw invalid(source, `cluster '${clusterName}' (of context '${contextName}') is not in it`);
  const user = namedEntries(document, 'users', 'user', source).get(userName);
  if (!user) throw invalid(source, `user '${userName}' (of context '${contextName}') is not in it`);
  return {
    context: contextName,
    cluster: { name: clusterName, ...clusterOf(cluster.fields, `${cluster.path}.cluster`, options) },
    user: { name: userName, ...userOf(user.fields, `${user.path}.user`, options) },
    ...(namespace === undefined ? {} : { namespace }),
  };
}

/** The kubeconfig document of a flat kubeconfig: one cluster, user and context, all inline. */
export function kubeconfigDocument(flat: FlatKubeconfig): Record<string, unknown> {
  const { cluster, user } = flat;
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: cluster.name,
        cluster: {
          server: cluster.server,
          ...(cluster.certificateAuthorityData === undefined
            ? {}
            : { 'certificate-authority-data': cluster.certificateAuthorityData }),
          ...(cluster.insecureSkipTlsVerify === true ? { 'insecure-skip-tls-verify': true } : {}),
          ...(cluster.tlsServerName === undefined ? {} : { 'tls-server-name': cluster.tlsServerName }),
        },
      },
    ],
    users: [
      {
        name: user.name,
        user: {
          ...(user.token === undefined ? {} : { token: user.token }),
          ...(user.clientCertificateData === undefined
            ? {}
            : { 'client-certificate-data': user.clientCertificateData }),
          ...(user.clientKeyData === undefined ? {} : { 'client-key-data': user.clientKeyData }),
          ...(user.username === undefined ? {} : { username: user.username }),
          ...(user.password === undefined ? {} : { password: user.password }),
        },
      },
    ],
    contexts: [
      {
        name: flat.context,
        context: {
          cluster: cluster.name,
          user: user.name,
          ...(flat.namespace === undefined ? {} : { namespace: flat.namespace }),
        },
      },
    ],
    'current-context': flat.context,
  };
}

function clusterOf(
  fields: Fields,
  at: string,
  options: FlattenOptions,
): Omit<FlatKubeconfig['cluster'], 'name'> {
  const { source } = options;
  if (fields['proxy-url'] !== undefined) throw invalid(source, `${at}.proxy-url is not supported`);
  refuseUnknown(fields, CLUSTER_FIELDS, at, source);
  const server = stringField(fields, 'server', at, source);
  if (server === undefined) throw invalid(source, `${at}.server is missing`);
  checkServer(server, `${at}.server`, source);
  const caData = oneOf(
    pemData(fields, 'certificate-authority-data', at, source),
    fileData(fields, 'certificate-authority', at, options),
    `${at}: certificate-authority-data and certificate-authority`,
    source,
  );
  const insecure = fields['insecure-skip-tls-verify'];
  if (insecure !== undefined && typeof insecure !== 'boolean')
    throw invalid(source, `${at}.insecure-skip-tls-verify must be true or false`);
  if (insecure === true && caData !== undefined)
    throw invalid(
      source,
      `${at} has both a certificate authority and insecure-skip-tls-verify: true; keep one of them`,
    );
  const tlsServerName = stringField(fields, 'tls-server-name', at, source);
  return {
    server: server.replace(/\/+$/, ''),
    ...(caData === undefined ? {} : { certificateAuthorityData: caData }),
    ...(insecure === true ? { insecureSkipTlsVerify: true } : {}),
    ...(tlsServerName === undefined ? {} : { tlsServerName }),
  };
}

function userOf(fields: Fields, at: string, options: FlattenOptions): Omit<FlatKubeconfig['user'], 'name'> {
  const { source } = options;
  for (const key of Object.keys(fields)) {
    if (PROGRAM_FIELDS.has(key))
      throw invalid(
        source,
        `${at}.${key} is refused: a kubeconfig here may not run programs, and what they return expires; ` +
          `give Capstan a ServiceAccount token of that cluster in the user's token ` +
          `(kubectl -n capstan-system create token capstan --duration 8760h) or a client certificate ` +
          `(client-certificate-data and client-key-data)`,
      );
    if (IMPERSONATION_FIELDS.has(key))
      throw invalid(
        source,
        `${at}.${key} (impersonation) is not supported; use the identity's own credentials`,
      );
  }
  refuseUnknown(fields, USER_FIELDS, at, source);
  const token = oneOf(
    stringField(fields, 'token', at, source),
    oneOf(
      fileData(fields, 'tokenFile', at, options, 'text')?.trim(),
      fileData(fields, 'token-file', at, options, 'text')?.trim(),
      `${at}: tokenFile and token-file`,
      source,
    ),
    `${at}: token and tokenFile`,
    source,
  );
  if (token !== undefined && !TOKEN.test(token))
    throw invalid(source, `${at}.token is not a bearer token (printable characters, no spaces)`);
  const certData = oneOf(
    pemData(fields, 'client-certificate-data', at, source),
    fileData(fields, 'client-certificate', at, options),
    `${at}: client-certificate-data and client-certificate`,
    source,
  );
  const keyData = oneOf(
    pemData(fields, 'client-key-data', at, source),
    fileData(fields, 'client-key', at, options),
    `${at}: client-key-data and client-key`,
    source,
  );
  if ((certData === undefined) !== (keyData === undefined))
    throw invalid(source, `${at} needs both client-certificate-data and client-key-data, or neither`);
  const username = stringField(fields, 'username', at, source);
  const password = stringField(fields, 'password', at, source);
  if ((username === undefined) !== (password === undefined))
    throw invalid(source, `${at} needs both username and password, or neither`);
  if (token === undefined && certData === undefined && username === undefined)
    throw invalid(
      source,
      `${at} has no credentials: give a token (a ServiceAccount token), client-certificate-data and ` +
        `client-key-data, or username and password`,
    );
  return {
    ...(token === undefined ? {} : { token }),
    ...(certData === undefined ? {} : { clientCertificateData: certData }),
    ...(keyData === undefined ? {} : { clientKeyData: keyData }),
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
  };
}

function checkServer(server: string, at: string, source: string): void {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw invalid(source, `${at} is not a URL (https://host:port)`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw invalid(source, `${at} must be an https:// (or http://) URL, not ${url.protocol}`);
  if (url.username !== '' || url.password !== '')
    throw invalid(source, `${at} may not carry credentials in the URL; put them in the user`);
  if (url.search !== '' || url.hash !== '') throw invalid(source, `${at} may not have a query or fragment`);
}

/** The inline value or the file's, refusing both (as kubectl does). */
function oneOf(
  inline: string | undefined,
  file: string | undefined,
  what: string,
  source: string,
): string | undefined {
  if (inline !== undefined && file !== undefined) throw invalid(source, `${what} are both given; keep one`);
  return inline ?? file;
}

/** A base64 PEM field, checked; undefined when absent. */
function pemData(fields: Fields, key: string, at: string, source: string): string | undefined {
  const value = fields[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalid(source, `${at}.${key} must be a string`);
  const compact = value.replace(/\s+/g, '');
  if (compact === '' || compact.length % 4 !== 0 || !BASE64.test(compact))
    throw invalid(source, `${at}.${key} is not base64`);
  if (!Buffer.from(compact, 'base64').toString('latin1').includes('-----BEGIN '))
    throw invalid(source, `${at}.${key} is not a base64-encoded PEM block`);
  return compact;
}

/** A field that names a file: inlined through `readFile` (the CLI), refused without it (the agent). */
function fileData(
  fields: Fields,
  key: string,
  at: string,
  options: FlattenOptions,
  as: 'base64' | 'text' = 'base64',
): string | undefined {
  const value = fields[key];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw invalid(options.source, `${at}.${key} must be a string`);
  if (!options.readFile) {
    const inline = key === 'tokenFile' || key === 'token-file' ? 'token' : `${key}-data`;
    throw invalid(
      options.source,
      `${at}.${key} names a file, which is refused here: put the content inline (${inline})`,
    );
  }
  const bytes = options.readFile(value, `${at}.${key}`);
  const text = Buffer.from(bytes).toString(as === 'text' ? 'utf8' : 'base64');
  if (as === 'base64' && !Buffer.from(bytes).toString('latin1').includes('-----BEGIN '))
    throw invalid(options.source, `${at}.${key}: the file it names is not a PEM file`);
  return text;
}

/** name → entry of `clusters`, `users` or `contexts`; duplicates refused. */
function namedEntries(
  document: Fields,
  list: string,
  inner: string,
  source: string,
): Map<string, { fields: Fields; path: string }> {
  const items = document[list];
  const result = new Map<string, { fields: Fields; path: string }>();
  if (items === undefined || items === null) return result;
  if (!Array.isArray(items)) throw invalid(source, `${list} must be a list`);
  items.forEach((item: unknown, i) => {
    const path = `${list}[${i}]`;
    if (!isFields(item)) throw invalid(source, `${path} must be a mapping with name and ${inner}`);
    const name = item['name'];
    if (typeof name !== 'string' || name === '') throw invalid(source, `${path}.name is missing`);
    if (result.has(name)) throw invalid(source, `${list} has '${name}' twice`);
    const fields = item[inner] ?? {};
    if (!isFields(fields)) throw invalid(source, `${path}.${inner} must be a mapping`);
    result.set(name, { fields, path });
  });
  return result;
}

function refuseUnknown(fields: Fields, known: ReadonlySet<string>, at: string, source: string): void {
  for (const key of Object.keys(fields)) {
    if (!known.has(key)) throw invalid(source, `${at}.${key} is not a field Capstan accepts`);
  }
}

function stringField(fields: Fields, key: string, at: string, source: string): string | undefined {
  const value = fields[key];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw invalid(source, `${at}.${key} must be a string`);
  return value;
}

function isFields(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function invalid(source: string, problem: string): CapstanError {
  return new CapstanError(
    'CLUSTER_KUBECONFIG_INVALID',
    `the kubeconfig of ${source} is not usable: ${problem}`,
    {
      subject: source,
    },
  );
}
