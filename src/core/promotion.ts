/**
 * Promotions (docs/promotions.md): the pure rules. A promotion carries one image, by digest, to one
 * environment: it is created Pending, waits for an approval where the environment asks for one, is
 * committed to the configuration repository, and is Verified once the environment's Application runs
 * that commit Synced and Healthy for long enough; or it ends Rejected or Failed, with the reason.
 * No I/O, no clock: times come in as parameters (ISO 8601).
 */
import { parseDocument, isMap, isSeq, type Document } from 'yaml';
import { CapstanError } from './errors.ts';

// ── States and events ───────────────────────────────────────────────────────────────────────────

export const PROMOTION_STATES = [
  'Pending',
  'WaitingForApproval',
  'Approved',
  'Rejected',
  'Committed',
  'Verified',
  'Failed',
] as const;
export type PromotionState = (typeof PROMOTION_STATES)[number];

/** States a promotion never leaves. */
export const PROMOTION_FINAL_STATES: readonly PromotionState[] = ['Rejected', 'Verified', 'Failed'];
export const isFinal = (state: PromotionState): boolean => PROMOTION_FINAL_STATES.includes(state);

export type PromotionEvent =
  /** The environment was read: an approval is needed, or not. */
  | { readonly type: 'start'; readonly approvalRequired: boolean }
  | { readonly type: 'approve'; readonly by: string }
  | { readonly type: 'reject'; readonly by: string }
  | { readonly type: 'committed'; readonly commit: string }
  | { readonly type: 'verified' }
  | { readonly type: 'fail'; readonly reason: string };

/** Which event each state takes, and the state it leads to. */
function target(state: PromotionState, event: PromotionEvent): PromotionState | undefined {
  if (event.type === 'fail') return isFinal(state) ? undefined : 'Failed';
  switch (state) {
    case 'Pending':
      return event.type === 'start'
        ? event.approvalRequired
          ? 'WaitingForApproval'
          : 'Approved'
        : undefined;
    case 'WaitingForApproval':
      return event.type === 'approve' ? 'Approved' : event.type === 'reject' ? 'Rejected' : undefined;
    case 'Approved':
      return event.type === 'committed' ? 'Committed' : undefined;
    case 'Committed':
      return event.type === 'verified' ? 'Verified' : undefined;
    default:
      return undefined;
  }
}

/**
 * The state after `event`; PROMOTION_STATE when the promotion cannot take it (an approval of one that
 * is not waiting for one, anything but nothing once it ended).
 */
export function nextPromotionState(state: PromotionState, event: PromotionEvent): PromotionState {
  const next = target(state, event);
  if (next === undefined)
    throw new CapstanError(
      'PROMOTION_STATE',
      isFinal(state)
        ? `the promotion is ${state} already: it cannot ${event.type} any more; start a new promotion instead`
        : `a promotion that is ${state} cannot ${event.type}` +
            (event.type === 'approve' || event.type === 'reject'
              ? ': it is not waiting for an approval'
              : ''),
    );
  return next;
}

// ── Gates ───────────────────────────────────────────────────────────────────────────────────────

/** What the environment's Application says of itself (its status). */
export interface ApplicationObservation {
  /** status.sync.revision: the commit its desired state was compared at. */
  readonly revision?: string;
  /** status.sync.status */
  readonly sync?: string;
  /** status.health.status */
  readonly health?: string;
  readonly healthMessage?: string;
}

export interface GateInput {
  /** The commit the promotion made. */
  readonly commit: string;
  /**
   * Whether the Application's revision, when it is another commit, is a later one that contains the
   * promotion's (git: the promotion's commit is its ancestor). Undefined or false: not known to.
   */
  readonly revisionContainsCommit?: boolean;
  readonly committedAt: string;
  /** When it was first seen Synced and Healthy on the commit, without a break since; undefined if not yet. */
  readonly healthySince?: string;
  readonly now: string;
  /** How long it must stay Synced and Healthy on the commit. */
  readonly healthyForSeconds: number;
  /** How long after the commit the gates may take in all before the promotion fails. */
  readonly timeoutSeconds: number;
}

export type GateVerdict =
  | { readonly kind: 'wait'; readonly why: string; readonly healthySince?: string }
  | { readonly kind: 'pass' }
  | { readonly kind: 'fail'; readonly reason: 'Degraded' | 'GateTimeout'; readonly message: string };

const seconds = (from: string, to: string): number => (Date.parse(to) - Date.parse(from)) / 1000;

/**
 * The gates of a committed promotion, from the Application's status: its revision is the commit (or a
 * later commit that contains it: another promotion, a person's change on the branch), it is Synced and
 * Healthy, and has stayed so for `healthyForSeconds`. Degraded on such a revision fails at once;
 * anything else waits, until `timeoutSeconds` after the commit.
 */
export function evaluateGates(app: ApplicationObservation, input: GateInput): GateVerdict {
  const exact = app.revision === input.commit;
  const onCommit = exact || (app.revision !== undefined && input.revisionContainsCommit === true);
  const where = exact
    ? input.commit.slice(0, 12)
    : `${app.revision?.slice(0, 12) ?? ''} (which contains ${input.commit.slice(0, 12)})`;
  if (onCommit && app.health === 'Degraded')
    return {
      kind: 'fail',
      reason: 'Degraded',
      message: `the Application is Degraded on ${where}${app.healthMessage === undefined ? '' : `: ${app.healthMessage}`}`,
    };
  const good = onCommit && app.sync === 'Synced' && app.health === 'Healthy';
  if (good) {
    const since = input.healthySince ?? input.now;
    if (seconds(since, input.now) >= input.healthyForSeconds) return { kind: 'pass' };
    return {
      kind: 'wait',
      why: `Synced and Healthy on ${where} since ${since}; the gate asks ${String(input.healthyForSeconds)} s`,
      healthySince: since,
    };
  }
  const why = !onCommit
    ? `the Application is at ${app.revision?.slice(0, 12) ?? 'no revision'}, not yet at ${input.commit.slice(0, 12)} or a commit that contains it`
    : `the Application is ${app.sync ?? 'Unknown'} and ${app.health ?? 'Unknown'} on ${where}`;
  if (seconds(input.committedAt, input.now) >= input.timeoutSeconds)
    return {
      kind: 'fail',
      reason: 'GateTimeout',
      message: `${why} ${String(input.timeoutSeconds)} s after the commit`,
    };
  return { kind: 'wait', why };
}

// ── Verification ────────────────────────────────────────────────────────────────────────────────

/** What the check after health (gates.verify) got: a status, or why there was none. */
export interface VerificationResult {
  readonly url: string;
  readonly status?: number;
  readonly error?: string;
}

/** Whether it answered as expected: `expectStatus` exactly, or any 2xx by default. */
export function verificationPassed(result: VerificationResult, expectStatus?: number): boolean {
  if (result.status === undefined) return false;
  return expectStatus === undefined
    ? result.status >= 200 && result.status < 300
    : result.status === expectStatus;
}

/** `GET <url> answered 200`, or why it did not answer. */
export function describeVerification(result: VerificationResult, expectStatus?: number): string {
  const expected = expectStatus === undefined ? 'a 2xx status' : String(expectStatus);
  return result.status === undefined
    ? `GET ${result.url} failed (${result.error ?? 'no answer'}); it must answer ${expected}`
    : `GET ${result.url} answered ${String(result.status)}${verificationPassed(result, expectStatus) ? '' : `; it must answer ${expected}`}`;
}

// ── Image references ────────────────────────────────────────────────────────────────────────────

/** `registry[:port]/repository@sha256:<64 hex>`: the one form a promotion accepts. */
const BY_DIGEST =
  /^((?:[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]{1,5})?\/)?[a-z0-9]+(?:[._-]+[a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*)@(sha256:[0-9a-f]{64})$/;

export interface DigestReference {
  readonly name: string;
  readonly digest: string;
  readonly reference: string;
}

/** Splits an image reference by digest; PROMOTION_IMAGE_INVALID for anything else (a tag, a short digest). */
export function parseDigestReference(reference: string): DigestReference {
  const match = BY_DIGEST.exec(reference);
  if (match === null || reference.length > 512)
    throw new CapstanError(
      'PROMOTION_IMAGE_INVALID',
      `'${reference.slice(0, 200)}' is not an image reference by digest (name@sha256:<64 hex digits>): a promotion moves one exact image, never a tag that can move`,
    );
  return { name: match[1] ?? '', digest: match[2] ?? '', reference };
}

/** A relative path inside the checkout: no absolute path, no `..`, no backslash or NUL. */
export function checkConfigPath(path: string, what: string): void {
  const bad =
    path === '' ||
    path.startsWith('/') ||
    path.includes('\\') ||
    path.includes('\0') ||
    path.split('/').includes('..');
  if (bad)
    throw new CapstanError(
      'PROMOTION_PATH_INVALID',
      `${what} '${path.slice(0, 200)}' is not a path inside the repository (relative, without ..)`,
    );
}

/** Where an environment's image reference lives in its file. */
export type ImageLocation =
  /** A kustomization.yaml `images:` entry of this name: newName and digest are set. */
  | { readonly kind: 'kustomize'; readonly name: string }
  /** A dotted path of a YAML file (Helm values): the whole reference is set there. */
  | { readonly kind: 'yamlPath'; readonly path: string };

const describeLocation = (location: ImageLocation): string =>
  location.kind === 'kustomize' ? `the images entry named ${location.name}` : `the key ${location.path}`;

function parseConfig(text: string, file: string): Document {
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0)
    throw new CapstanError(
      'PROMOTION_CONFIG_INVALID',
      `${file}: ${doc.errors[0]?.message ?? 'invalid YAML'}`,
      {
        subject: file,
      },
    );
  if (!isMap(doc.contents))
    throw new CapstanError('PROMOTION_CONFIG_INVALID', `${file}: the document is not a mapping`, {
      subject: file,
    });
  return doc;
}

function kustomizeIndex(doc: Document, file: string, name: string): number {
  const images = doc.get('images', true);
  const index = isSeq(images)
    ? images.items.findIndex((item) => isMap(item) && item.get('name') === name)
    : -1;
  if (index < 0)
    throw new CapstanError(
      'PROMOTION_IMAGE_ENTRY',
      `${file} has no images entry named ${name}: add '- name: ${name}' under images, or name the entry the environment uses`,
      { subject: file },
    );
  return index;
}

const yamlKeys = (path: string): string[] => path.split('.');

/** The image reference the file holds at `location` (undefined when there is none yet). */
export function imageIn(
  text: string,
  options: { readonly file: string; readonly location: ImageLocation },
): string | undefined {
  const doc = parseConfig(text, options.file);
  const location = options.location;
  if (location.kind === 'yamlPath') {
    const value = doc.getIn(yamlKeys(location.path));
    return typeof value === 'string' ? value : undefined;
  }
  const index = kustomizeIndex(doc, options.file, location.name);
  const name = doc.getIn(['images', index, 'newName']);
  const digest = doc.getIn(['images', index, 'digest']);
  return typeof name === 'string' && typeof digest === 'string' ? `${name}@${digest}` : undefined;
}

/** The file with `reference` (by digest) at `location`; comments and the rest of the file kept. */
export function withImageAt(
  text: string,
  options: { readonly file: string; readonly location: ImageLocation; readonly reference: string },
): string {
  const image = parseDigestReference(options.reference);
  const doc = parseConfig(text, options.file);
  const location = options.location;
  if (location.kind === 'yamlPath') {
    const keys = yamlKeys(location.path);
    if (keys.some((key) => key === '') || keys.length > 32)
      throw new CapstanError('PROMOTION_CONFIG_INVALID', `'${location.path}' is not a dotted YAML path`);
    doc.setIn(keys, image.reference);
  } else {
    const index = kustomizeIndex(doc, options.file, location.name);
    doc.setIn(['images', index, 'newName'], image.name);
    doc.setIn(['images', index, 'digest'], image.digest);
    const entry = doc.getIn(['images', index], true);
    if (isMap(entry)) entry.delete('newTag');
  }
  return doc.toString();
}

/** The commit message of a promotion: its id, the environment, the image, where it came from, who approved. */
export function promotionCommitMessage(
  promotion: {
    readonly id: string;
    readonly environment: string;
    readonly image: string;
    readonly fromRun?: string;
    readonly fromEnvironment?: string;
    readonly requestedBy: string;
    readonly approvedBy?: string;
  },
  location: ImageLocation,
): string {
  const lines = [
    `promote ${promotion.environment}: ${promotion.image.slice(promotion.image.indexOf('@') + 1, promotion.image.indexOf('@') + 20)}`,
    '',
    `Capstan-Promotion: ${promotion.id}`,
    `Capstan-Environment: ${promotion.environment}`,
    `Capstan-Image: ${promotion.image}`,
    `Capstan-Location: ${describeLocation(location)}`,
    ...(promotion.fromRun === undefined ? [] : [`Capstan-From-Run: ${promotion.fromRun}`]),
    ...(promotion.fromEnvironment === undefined
      ? []
      : [`Capstan-From-Environment: ${promotion.fromEnvironment}`]),
    `Capstan-Requested-By: ${promotion.requestedBy}`,
    `Capstan-Approved-By: ${promotion.approvedBy ?? '(no approval required)'}`,
  ];
  return `${lines.join('\n')}\n`;
}
