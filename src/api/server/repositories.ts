/**
 * Repositories: the list of those the caller's Applications deploy from (from the watch cache), and a
 * connection test with the credentials given (admins of a project may test).
 */
import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { normalizeRepoUrl } from '../../core/repo-url.ts';
import {
  API_PREFIX,
  RepositoryListSchema,
  RepositoryTestRequestSchema,
  type RepositoryList,
  RepositoryTestResultSchema,
  type RepositoryTestRequest,
} from '../../contracts/server-api.ts';
import { DEFAULT_PROJECT, projectsWith } from '../../server/access.ts';
import { testRepository } from '../../server/repository-test.ts';
import { errors, withEtag } from './applications.ts';
import { matchesPattern } from '../../core/policy.ts';
import {
  actorOf,
  audit,
  HttpError,
  need,
  requirePermission,
  type Caller,
  type Routes,
  type ServerApiOptions,
} from './context.ts';

export function repositoryRoutes(routes: Routes, options: ServerApiOptions): void {
  routes.add(
    {
      method: 'GET',
      url: `${API_PREFIX}/repositories`,
      summary:
        'The repositories the Applications the caller may read deploy from (from the watch cache; no credentials)',
      tag: 'repositories',
      access: 'authenticated',
      responses: {
        200: { description: 'the repositories, by URL', schema: RepositoryListSchema },
        304: { description: 'unchanged (If-None-Match)' },
      },
    },
    (request, reply, caller) => Promise.resolve(listRepositories(options, request, reply, need(caller))),
  );
  routes.add(
    {
      method: 'POST',
      url: `${API_PREFIX}/repositories/test`,
      summary:
        'Test a repository connection: ls-remote with the credentials given, or those of a Secret named by secretRef (never stored or answered)',
      tag: 'repositories',
      access: 'applications.create',
      body: RepositoryTestRequestSchema,
      responses: {
        200: { description: 'how the test went (ok or not)', schema: RepositoryTestResultSchema },
        ...errors(400, 401, 403, 413),
      },
    },
    async (request, _reply, caller) => {
      const body = request.body as RepositoryTestRequest;
      const project = body.project ?? DEFAULT_PROJECT;
      const target = `Repository/${withoutUserInfo(body.repoURL)}`;
      const checked = need(caller);
      await requirePermission(options, checked, 'applications.create', project, {
        action: 'repository.test',
        target,
      });
      if (body.secretRef !== undefined)
        await requireSecretNamespace(options, checked, project, body.secretRef);
      const result = await testRepository(options.repositories, body, {
        ...(options.repositorySecrets ? { secretCredentials: options.repositorySecrets } : {}),
      });
      await audit(options, {
        actor: actorOf(checked.principal),
        action: 'repository.test',
        target,
        project,
        result: result.ok ? 'success' : 'failure',
        ...(result.error === undefined ? {} : { reason: result.error }),
      });
      return result;
    },
  );
}

/**
 * A Secret is read only in a namespace whose Applications may name the project (its
 * applicationNamespaces), where the caller, an admin of the project, could name it from an Application
 * anyway; anywhere else only for a global admin.
 */
async function requireSecretNamespace(
  options: ServerApiOptions,
  caller: Caller,
  project: string,
  ref: { namespace: string; name: string },
): Promise<void> {
  const { principal } = caller;
  if (principal.admin && principal.scope === undefined) return;
  const patterns = options.projects.get(project)?.rules?.applicationNamespaces ?? [];
  if (patterns.some((p) => matchesPattern(p, ref.namespace))) return;
  const target = `Secret/${ref.namespace}/${ref.name}`;
  await audit(options, {
    actor: actorOf(principal),
    action: 'repository.test',
    target,
    project,
    result: 'denied',
    reason: 'the Secret is outside the project’s application namespaces',
  });
  throw new HttpError(
    403,
    'FORBIDDEN',
    `${target} is not in a namespace of project '${project}' (its applicationNamespaces): test with a Secret of the project's own namespaces`,
    { permission: 'applications.create', project },
  );
}

/** The URL without a user and password, for the audit trail (git refuses such a URL anyway). */
function withoutUserInfo(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    return parsed.toString();
  } catch {
    return url.replace(/^[^@/]*@/, '');
  }
}

/** One pass over the visible Applications (pages of the watch cache), grouped by normal repository URL. */
function listRepositories(
  options: ServerApiOptions,
  request: FastifyRequest,
  reply: FastifyReply,
  caller: Caller,
): unknown {
  const visible = projectsWith(caller.principal, 'applications.read', options.projects);
  const byRepository = new Map<string, { repoURL: string; applications: number; projects: Set<string> }>();
  let after: readonly string[] | undefined;
  do {
    const page = options.applications.page({ visible }, { ...(after ? { after } : {}), limit: 1000 });
    for (const app of page.items) {
      const repoURL = withoutUserInfo(app.spec.source.repoURL);
      const key = normalizeRepoUrl(repoURL);
      const entry = byRepository.get(key) ?? { repoURL, applications: 0, projects: new Set<string>() };
      entry.applications += 1;
      entry.projects.add(app.spec.project ?? DEFAULT_PROJECT);
      byRepository.set(key, entry);
    }
    after = page.nextKey;
  } while (after !== undefined);
  const body: RepositoryList = {
    items: [...byRepository.values()]
      .map((e) => ({ repoURL: e.repoURL, applications: e.applications, projects: [...e.projects].sort() }))
      .sort((a, b) => a.repoURL.localeCompare(b.repoURL)),
  };
  const etag = `"${createHash('sha256').update(JSON.stringify(body)).digest('base64url').slice(0, 27)}"`;
  return withEtag(request, reply, etag, body);
}
