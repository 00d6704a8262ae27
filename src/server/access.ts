/**
 * Who may do what: roles per project (viewer, deployer, admin) given to users and groups, a global
 * admin, and API tokens scoped to one project and role. One decision, `authorize`, used by every route.
 *
 * Until the tenancy issue's `Project` contract is merged, projects reach this module through the
 * `ProjectDirectory` interface below (src/main adapts the Project resources to it).
 */

export const ROLES = ['viewer', 'deployer', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** Every permission a route can need, per project. */
export const PERMISSIONS = [
  'applications.read',
  'applications.sync',
  'applications.refresh',
  'applications.rollback',
  'applications.release-hold',
  'applications.create',
  'applications.update',
  'applications.delete',
  'audit.read',
  'tokens.create',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

/** What each role may do in its project; each role includes the one before. */
export const ROLE_PERMISSIONS: Readonly<Record<Role, readonly Permission[]>> = {
  viewer: ['applications.read'],
  deployer: [
    'applications.read',
    'applications.sync',
    'applications.refresh',
    'applications.rollback',
    'applications.release-hold',
  ],
  admin: [
    'applications.read',
    'applications.sync',
    'applications.refresh',
    'applications.rollback',
    'applications.release-hold',
    'applications.create',
    'applications.update',
    'applications.delete',
    'audit.read',
    'tokens.create',
  ],
};

/** The project of an Application that names none. */
export const DEFAULT_PROJECT = 'default';
/** A token scope that covers every project (only a global admin may create one). */
export const EVERY_PROJECT = '*';

export interface Subject {
  readonly kind: 'user' | 'group';
  readonly name: string;
}

/** A project's role bindings, as the server needs them. */
export interface ProjectRoles {
  readonly name: string;
  readonly description?: string;
  readonly roles: readonly { readonly role: Role; readonly subjects: readonly Subject[] }[];
}

export interface ProjectDirectory {
  get(name: string): ProjectRoles | undefined;
  /** Every project, sorted by name. */
  list(): readonly ProjectRoles[];
}

/** Someone authenticated: a user with a session, or an API token. */
export interface Principal {
  readonly kind: 'user' | 'token';
  /** The user name; for a token `token:<id>`. */
  readonly name: string;
  readonly groups: readonly string[];
  /** Global admin: every permission in every project. */
  readonly admin: boolean;
  /** A token acts only in this project (or `*`) with this role. */
  readonly scope?: { readonly project: string; readonly role: Role };
  /** For a token: who created it. */
  readonly owner?: string;
}

export type Decision =
  | { readonly allowed: true }
  | {
      readonly allowed: false;
      readonly permission: Permission;
      readonly project: string;
      /** Says what is missing and which roles would give it. */
      readonly message: string;
    };

/** The roles a principal holds in a project (a token: its scope's role there, if the scope covers it). */
export function rolesIn(principal: Principal, project: string, directory: ProjectDirectory): Role[] {
  if (principal.scope !== undefined) {
    const covers = principal.scope.project === EVERY_PROJECT || principal.scope.project === project;
    return covers ? [principal.scope.role] : [];
  }
  const bindings = directory.get(project)?.roles ?? [];
  const held = bindings.filter(({ subjects }) =>
    subjects.some(
      (s) =>
        (s.kind === 'user' && s.name === principal.name) ||
        (s.kind === 'group' && principal.groups.includes(s.name)),
    ),
  );
  return ROLES.filter((role) => held.some((b) => b.role === role));
}

/** May `principal` use `permission` in `project`? A refusal names the permission and the roles that carry it. */
export function authorize(
  principal: Principal,
  permission: Permission,
  project: string,
  directory: ProjectDirectory,
): Decision {
  if (principal.admin && principal.scope === undefined) return { allowed: true };
  const roles = rolesIn(principal, project, directory);
  if (roles.some((role) => ROLE_PERMISSIONS[role].includes(permission))) return { allowed: true };
  const carriers = ROLES.filter((role) => ROLE_PERMISSIONS[role].includes(permission));
  return {
    allowed: false,
    permission,
    project,
    message:
      `missing permission ${permission} in project '${project}' (given by the role ${carriers.join(' or ')}); ` +
      `${principal.kind === 'token' ? 'this token has' : 'you have'} ${roles.length === 0 ? 'no role there' : `the role ${roles.join(', ')} there`}`,
  };
}

/** The projects in which `principal` holds `permission`, or `all` for a global admin or a token for `*`. */
export function projectsWith(
  principal: Principal,
  permission: Permission,
  directory: ProjectDirectory,
): 'all' | ReadonlySet<string> {
  if (principal.admin && principal.scope === undefined) return 'all';
  if (principal.scope?.project === EVERY_PROJECT)
    return ROLE_PERMISSIONS[principal.scope.role].includes(permission) ? 'all' : new Set();
  const names = new Set([
    ...directory.list().map((p) => p.name),
    ...(principal.scope ? [principal.scope.project] : []),
  ]);
  return new Set([...names].filter((name) => authorize(principal, permission, name, directory).allowed));
}

/** Is `role` at least `other` (admin > deployer > viewer)? */
export const roleCovers = (role: Role, other: Role): boolean => ROLES.indexOf(role) >= ROLES.indexOf(other);
