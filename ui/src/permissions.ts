// What the caller may do, as the server says it (GET /projects: yourActions per project), and why not.
// The server decides anyway (403); this only shows an action disabled with its reason before a click.
import type { ProjectInfo, SessionInfo } from './types.ts';

export type ProjectAction =
  'view' | 'refresh' | 'sync' | 'rollback' | 'create' | 'update' | 'delete' | 'approve';
export type Permit = { readonly allowed: true } | { readonly allowed: false; readonly reason: string };

export interface Grants {
  readonly session: SessionInfo;
  readonly projects: ReadonlyMap<string, ProjectInfo>;
}

const ALLOWED: Permit = { allowed: true };

/**
 * Whether the caller may do `action` in the project, and else why. `as` names what is asked when it is
 * not the action itself (running pipelines needs the `sync` action).
 */
export function permit(
  grants: Grants,
  project: string,
  action: ProjectAction,
  options: { readonly as?: string } = {},
): Permit {
  const { session } = grants;
  if (session.admin && session.scope === undefined) return ALLOWED;
  const info = grants.projects.get(project);
  if (info?.yourActions.includes(action) === true) return ALLOWED;
  const givers = (info?.roles ?? []).filter((role) => role.actions.includes(action)).map((role) => role.name);
  const needs =
    givers.length > 0
      ? givers.join(' or ')
      : action === 'view'
        ? 'viewer'
        : action === 'approve'
          ? 'admin'
          : 'deployer or admin';
  const yours =
    info === undefined || info.yourRoles.length === 0
      ? 'you have no role there'
      : `your role there is ${info.yourRoles.join(', ')}`;
  return {
    allowed: false,
    reason: `${options.as ?? capitalised(action)} needs the role ${needs} in project '${project}'; ${yours}.`,
  };
}

/** Whether the caller is admin somewhere (tokens and the project's audit trail need it). */
export function adminProjects(grants: Grants): string[] {
  const { session } = grants;
  if (session.admin && session.scope === undefined) return ['*', ...grants.projects.keys()];
  return [...grants.projects.values()]
    .filter((p) =>
      ['view', 'refresh', 'sync', 'rollback', 'create', 'update', 'delete'].every((a) =>
        p.yourActions.includes(a),
      ),
    )
    .map((p) => p.name);
}

const capitalised = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);
