/**
 * Reading the loosely typed JSON of a live object safely, and building results. Shared by the health
 * rules; nothing here knows about a particular kind.
 */
import type { Health, HealthStatus } from '../health.ts';

export type Fields = Readonly<Record<string, unknown>>;

/** A health message is shown in one line of a table: long texts from controllers are cut here. */
const MAX_MESSAGE = 240;

export function asRecord(value: unknown): Fields | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Fields) : undefined;
}

export function asList(value: unknown): readonly unknown[] {
  return Array.isArray(value) ? (value as readonly unknown[]) : [];
}

/** The value at a path of keys, or undefined as soon as one step is not an object. */
export function get(value: unknown, ...path: readonly string[]): unknown {
  let current = value;
  for (const key of path) {
    const record = asRecord(current);
    if (record === undefined) return undefined;
    current = record[key];
  }
  return current;
}

export function str(value: unknown, ...path: readonly string[]): string | undefined {
  const found = get(value, ...path);
  return typeof found === 'string' ? found : undefined;
}

export function num(value: unknown, ...path: readonly string[]): number | undefined {
  const found = get(value, ...path);
  return typeof found === 'number' && Number.isFinite(found) ? found : undefined;
}

export function flag(value: unknown, ...path: readonly string[]): boolean {
  return get(value, ...path) === true;
}

/** A status condition, as Kubernetes conventions define it. Missing strings read as ''. */
export interface Condition {
  readonly type: string;
  /** 'True' | 'False' | 'Unknown', or '' when absent. */
  readonly status: string;
  readonly reason: string;
  readonly message: string;
  readonly observedGeneration?: number;
}

export function parseConditions(list: unknown): Condition[] {
  const conditions: Condition[] = [];
  for (const item of asList(list)) {
    const type = str(item, 'type');
    if (type === undefined) continue;
    const base = {
      type,
      status: str(item, 'status') ?? '',
      reason: str(item, 'reason') ?? '',
      message: str(item, 'message') ?? '',
    };
    const observedGeneration = num(item, 'observedGeneration');
    conditions.push(observedGeneration === undefined ? base : { ...base, observedGeneration });
  }
  return conditions;
}

/** The conditions under `status.conditions`. */
export function conditionsOf(object: unknown): Condition[] {
  return parseConditions(get(object, 'status', 'conditions'));
}

export function findCondition(conditions: readonly Condition[], type: string): Condition | undefined {
  return conditions.find((condition) => condition.type === type);
}

export function isTrue(condition: Condition | undefined): condition is Condition {
  return condition?.status === 'True';
}

export function isFalse(condition: Condition | undefined): condition is Condition {
  return condition?.status === 'False';
}

/** `Reason: message`, or whichever of the two is there; '' when neither. */
export function describe(condition: Condition | undefined): string {
  if (condition === undefined) return '';
  const { reason, message } = condition;
  if (reason && message) return `${reason}: ${message}`;
  return reason || message;
}

/** One line, at most MAX_MESSAGE characters. */
export function tidy(message: string): string {
  const line = message.replace(/\s+/g, ' ').trim();
  return line.length <= MAX_MESSAGE ? line : `${line.slice(0, MAX_MESSAGE - 1)}…`;
}

function result(status: HealthStatus, message: string): Health {
  return { status, message: tidy(message) };
}

export const healthy = (message = ''): Health => result('Healthy', message);
export const progressing = (message: string): Health => result('Progressing', message);
export const degraded = (message: string): Health => result('Degraded', message);
export const suspended = (message: string): Health => result('Suspended', message);
export const unknown = (message: string): Health => result('Unknown', message);
export const missing = (message: string): Health => result('Missing', message);

/** `1 replica`, `3 replicas`. */
export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

/** The `spec.replicas` of a workload; the controllers default it to 1. */
export function desiredReplicas(object: unknown): number {
  return num(object, 'spec', 'replicas') ?? 1;
}
