import { CapstanError } from '../core/errors.ts';
import {
  checkAdoption,
  checkObjects,
  describeViolations,
  type ProjectRules,
  type Violation,
} from '../core/policy.ts';
import type { ResourceId } from '../core/resource.ts';

/** The project a sync is bounded by (SyncOptions.project): its rules, the cluster, what is never writable. */
export interface ProjectBoundary {
  readonly rules: ProjectRules;
  /** The registered name of the destination cluster. */
  readonly cluster: string;
  /** Namespaces no Application may write (the agent's own state). */
  readonly protectedNamespaces: readonly string[];
}

/** A project's refusal: terminal (the Application is Stalled until its source, spec or project changes). */
export function policyViolation(
  rules: Pick<ProjectRules, 'name'>,
  violations: readonly Violation[],
): CapstanError {
  const [first] = violations;
  return new CapstanError('POLICY_VIOLATION', describeViolations(rules, violations), {
    ...(first ? { subject: first.subject } : {}),
  });
}

/** The whole render against the project, before anything is dry-run or applied. */
export function enforceObjects(ids: readonly ResourceId[], boundary: ProjectBoundary): void {
  const violations = checkObjects(ids, { cluster: boundary.cluster }, boundary.rules, {
    namespaces: boundary.protectedNamespaces,
  });
  if (violations.length > 0) throw policyViolation(boundary.rules, violations);
}

/** The plan's unowned live objects: applying them would adopt them. */
export function enforceAdoption(unowned: readonly ResourceId[], boundary: ProjectBoundary): void {
  const violations = checkAdoption(unowned, boundary.rules);
  if (violations.length > 0) throw policyViolation(boundary.rules, violations);
}
