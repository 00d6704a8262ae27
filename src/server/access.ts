/**
 * Who may do what through the server: the roles of each Project (src/contracts/project.ts: viewer,
 * deployer, admin or custom roles naming users and groups, and `actionsOf`, the one check the agent,
 * the server and the CLI share), a global admin, and API tokens scoped to one project and built-in role.
 * One decision, `authorize`, used by every route; a refusal names the permission that is missing.
 */
import {
  BUILT_IN_ROLES,
  DEFAULT_PROJECT_NAME,
  PROJECT_ACTIONS,
  actionsOf,
  roleActions,
  type BuiltInRole,
  type ProjectAction,
  type ProjectRole,
} from '../contracts/project.ts';

/** The roles a token may carry: the built-in ones. */
export const ROLES = Object.keys(BUILT_IN_ROLES) as BuiltInRole[];
export type Role = BuiltInRole;

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
  'pipelines.read',
  'pipelines.run',
  'promotions.read',
  'promotions.promote',
  'promotions.approve',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

/**
 * The project actions each permission needs. Reading a project's audit trail and creating its tokens
 * need every action (the admin role): they show or hand out everything the project allows.
 */
export const PERMISSION_ACTIONS: Readonly<Record<Permission, readonly ProjectAction[]>> = {
  'applications.read': ['view'],
  'applications.sync': ['sync'],
  'applications.refresh': ['refresh'],
  'applications.rollback': ['rollback'],
  'applications.release-hold': ['rollback'],
  'applications.create': ['create'],
  'applications.update': ['update'],
  'applications.delete': ['delete'],
  'audit.read': PROJECT_ACTIONS,
  'tokens.create': PROJECT_ACTIONS,
  // Pipeline runs: reading them is viewing; starting, cancelling and re-running them is a sync's right.
  'pipelines.read': ['view'],
  'pipelines.run': ['sync'],
  // Promotions (docs/promotions.md): reading is viewing, promoting by hand a sync's right, approving
  // and rejecting the `approve` action (the admin role, or a custom role that lists it).
  'promotions.read': ['view'],
  'promotions.promote': ['sync'],
  'promotions.approve': ['approve'],
};

/** The project of an Application that names none. */
export const DEFAULT_PROJECT = DEFAULT_PROJECT_NAME;
/** A token scope that covers every project (only a global admin may create one). */
export const EVERY_PROJECT = '*';

/** A project as the server needs it: its name and role bindings, and what it allows (to show it). */
export interface ProjectAccess {
  readonly name: string;
  readonly description?: string;
  readonly roles: readonly ProjectRole[];
  /** Its rules with the defaults applied (absent for a directory that does not read them). */
  readonly rules?: ProjectRulesView;
}

/** What a project lets its Applications do, as people read it: never a credential. */
export interface ProjectRulesView {
  readonly applicationNamespaces: readonly string[];
  readonly sourceRepos: readonly string[];
  readonly destinations: readonly { readonly cluster: string; readonly namespace: string }[];
}

export interface ProjectDirectory {
  get(name: string): ProjectAccess | undefined;
  /** Every project, sorted by name. */
  list(): readonly ProjectAccess[];
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

const isGlobalAdmin = (principal: Principal) => principal.admin && principal.scope === undefined;

/** What a principal may do in a project: its roles' actions there (a token: its role's, if its scope covers it). */
export function actionsIn(
  principal: Principal,
  project: string,
  directory: ProjectDirectory,
): Set<ProjectAction> {
  if (isGlobalAdmin(principal)) return new Set(PROJECT_ACTIONS);
  if (principal.scope !== undefined) {
    const covers = principal.scope.project === EVERY_PROJECT || principal.scope.project === project;
    return new Set(covers ? BUILT_IN_ROLES[principal.scope.role] : []);
  }
  return actionsOf(
    { roles: directory.get(project)?.roles ?? [] },
    { user: principal.name, groups: principal.groups },
  );
}

/** The names of the roles a principal holds in a project (for people to read). */
export function rolesIn(principal: Principal, project: string, directory: ProjectDirectory): string[] {
  if (principal.scope !== undefined)
    return actionsIn(principal, project, directory).size > 0 ? [principal.scope.role] : [];
  return (directory.get(project)?.roles ?? [])
    .filter(
      (r) =>
        (r.users ?? []).includes(principal.name) ||
        (r.groups ?? []).some((g) => principal.groups.includes(g)),
    )
    .map((r) => r.name);
}

/** May `principal` use `permission` in `project`? A refusal names the permission and the roles that carry it. */
export function authorize(
  principal: Principal,
  permission: Permission,
  project: string,
  directory: ProjectDirectory,
): Decision {
  const held = actionsIn(principal, project, directory);
  const needed = PERMISSION_ACTIONS[permission];
  if (needed.every((action) => held.has(action))) return { allowed: true };
  const carriers = ROLES.filter((role) =>
    needed.every((a) => (BUILT_IN_ROLES[role] as readonly string[]).includes(a)),
  );
  const roles = rolesIn(principal, project, directory);
  const who = principal.kind === 'token' ? 'this token has' : 'you have';
  return {
    allowed: false,
    permission,
    project,
    message:
      `missing permission ${permission} in project '${project}' (given by the role ${carriers.join(' or ')}); ` +
      `${who} ${roles.length === 0 ? 'no role there' : `the role ${roles.join(', ')} there`}`,
  };
}

/** The projects in which `principal` holds `permission`, or `all` for a global admin or a token for `*`. */
export function projectsWith(
  principal: Principal,
  permission: Permission,
  directory: ProjectDirectory,
): 'all' | ReadonlySet<string> {
  if (isGlobalAdmin(principal)) return 'all';
  if (principal.scope?.project === EVERY_PROJECT)
    return PERMISSION_ACTIONS[permission].every((a) =>
      (BUILT_IN_ROLES[principal.scope?.role ?? 'viewer'] as readonly string[]).includes(a),
    )
      ? 'all'
      : new Set();
  const names = new Set([
    ...directory.list().map((p) => p.name),
    ...(principal.scope ? [principal.scope.project] : []),
  ]);
  return new Set([...names].filter((name) => authorize(principal, permission, name, directory).allowed));
}

/** May someone holding `held` hand out a token of `role`? Only when the role's actions are all theirs. */
export const mayGrant = (held: ReadonlySet<ProjectAction>, role: Role): boolean =>
  roleActions({ name: role }).every((action) => held.has(action));
