/** Repositories: a connection test with the credentials given (admins of a project may test). */
import {
  API_PREFIX,
  RepositoryTestRequestSchema,
  RepositoryTestResultSchema,
  type RepositoryTestRequest,
} from '../../contracts/server-api.ts';
import { DEFAULT_PROJECT } from '../../server/access.ts';
import { testRepository } from '../../server/repository-test.ts';
import { errors } from './applications.ts';
import { actorOf, audit, need, requirePermission, type Routes, type ServerApiOptions } from './context.ts';

export function repositoryRoutes(routes: Routes, options: ServerApiOptions): void {
  routes.add(
    {
      method: 'POST',
      url: `${API_PREFIX}/repositories/test`,
      summary:
        'Test a repository connection: ls-remote with the credentials given (never stored or answered)',
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
      const result = await testRepository(options.repositories, body);
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
