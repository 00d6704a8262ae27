/**
 * The promotion driver (docs/promotions.md): for an Environment (at each change of it, of its
 * Application, of its Pipeline or the environment it follows, and at a slow resync), (1) finds what to
 * promote (the newest Succeeded run of its Pipeline, or what the environment before it verified last),
 * (2) moves its oldest active promotion one step: Pending → WaitingForApproval or Approved; Approved →
 * a commit to the configuration repository and a refresh of the Application; Committed → the gates, from
 * the Application's status, to Verified or Failed. One promotion per environment is in flight at a time;
 * a newer one that arrives before the older is committed supersedes it. Approvals and rejections are
 * written to the Store by the API (decide()); the driver picks them up.
 *
 * `reconcile` says when it should look at the environment again without an event (the gates' clocks).
 *
 * Built on core, contracts and ports only: the edges (kube, git) come in as PromotionDeps.
 */
import type { ApplicationObservation } from '../core/promotion.ts';
import {
  describeVerification,
  evaluateGates,
  verificationPassed,
  type VerificationResult,
  isFinal,
  nextPromotionState,
  parseDigestReference,
  promotionCommitMessage,
  type PromotionEvent,
} from '../core/promotion.ts';
import { messageOf } from '../core/errors.ts';
import type { EnvironmentStatus, ResolvedEnvironment } from '../contracts/environment.ts';
import type { Logger } from '../ports/logger.ts';
import type { PolicyImages } from '../ports/policy-images.ts';
import { ImagePolicySource, type ImagePolicyDeps } from './image-policy-source.ts';
import type { PromotionRecord, PromotionStore, PromotionUpdate, RunStore } from '../ports/store.ts';

/** What a commit did (src/adapters/git/image-write.ts). */
export interface ImageCommit {
  readonly commit: string;
  readonly previous: string | undefined;
}

export interface PromotionDeps {
  readonly promotions: PromotionStore;
  readonly runs: Pick<RunStore, 'list' | 'get'>;
  /** Every Environment, resolved; those the contract refuses come with their errors. */
  readonly environments: () => Promise<readonly (ResolvedEnvironment | { readonly invalid: string })[]>;
  /** The Application's status as the gates read it; undefined when there is no such Application. */
  readonly application: (namespace: string, name: string) => Promise<ApplicationObservation | undefined>;
  /** Asks the agent to look at the source again now (the refresh annotation). */
  readonly refresh: (namespace: string, name: string) => Promise<void>;
  /** Commits the reference to the environment's file and pushes. */
  readonly commit: (
    environment: ResolvedEnvironment,
    reference: string,
    message: string,
  ) => Promise<ImageCommit>;
  readonly writeStatus: (namespace: string, name: string, status: EnvironmentStatus) => Promise<void>;
  /**
   * Whether `revision` (the Application's) is a later commit of the environment's branch that contains
   * `commit` (the promotion's). Absent: only the exact commit passes the gates.
   */
  readonly contains?: (
    environment: ResolvedEnvironment,
    commit: string,
    revision: string,
  ) => Promise<boolean>;
  /** The check after health (gates.verify): a GET of the URL. Absent: environments that ask for one wait. */
  readonly verify?: (url: string) => Promise<VerificationResult>;
  /** The registry, for Environments that follow an image repository (spec.source.imagePolicy). Absent: they wait. */
  readonly images?: PolicyImages;
  /** Writes the Environment's status.imagePolicy (what its policy chose, or why nothing). */
  readonly writePolicyStatus?: ImagePolicyDeps['writePolicyStatus'];
  readonly metrics?: PromotionMetrics;
  /**
   * Looks at the environment soon (the queue's wake). Given, registries are asked in the background,
   * at most `registryConcurrency` (default 4) at once, and the end of a look wakes its environment.
   */
  readonly wake?: (namespace: string, name: string) => void;
  readonly registryConcurrency?: number;
  readonly now: () => Date;
  readonly newId: () => string;
  readonly log?: Logger;
}

/** Told of each promotion recorded and of each step it takes (src/controller/promotion-metrics.ts). */
export interface PromotionMetrics {
  /** The promotion as it is now: just recorded (Pending), or just moved to its state. */
  readonly moved: (promotion: PromotionRecord) => void;
  /** A look at an image policy's registry, and whether it chose an image. */
  readonly policyChecked?: (namespace: string, environment: string, result: 'chosen' | 'failed') => void;
}

/** Who the driver is, in records and audit entries. */
export const AUTO = 'auto';

export interface PromotionRequest {
  readonly environment: ResolvedEnvironment;
  readonly image: string;
  readonly by: string;
  readonly fromRun?: string;
  readonly fromEnvironment?: string;
  readonly fromPromotion?: string;
}

/** Steps one environment may take in a row within one tick. */
const MAX_STEPS = 10;
/** Looked at again this long after a gate's clock runs out, so that it has run out. */
const CLOCK_MARGIN_MS = 50;
/** A check after health that did not pass is asked again this often. */
const VERIFY_EVERY_MS = 2_000;

export class PromotionDriver {
  readonly #deps: PromotionDeps;
  /** `commit..revision` → whether revision contains commit. */
  readonly #ancestry = new Map<string, boolean>();
  /** Environments that follow an image repository; undefined without a registry. */
  readonly #policies: ImagePolicySource | undefined;

  constructor(deps: PromotionDeps) {
    this.#deps = deps;
    const { images, writePolicyStatus, metrics, log, wake, registryConcurrency } = deps;
    this.#policies =
      images === undefined || writePolicyStatus === undefined
        ? undefined
        : new ImagePolicySource({
            images,
            writePolicyStatus,
            now: deps.now,
            ...(log === undefined ? {} : { log }),
            ...(wake === undefined ? {} : { wake }),
            ...(registryConcurrency === undefined ? {} : { concurrency: registryConcurrency }),
            checked: (env, result) => metrics?.policyChecked?.(env.namespace, env.name, result),
          });
  }

  /** One pass over every Environment, each until it waits. Errors of one are logged; the others go on. */
  async tick(): Promise<void> {
    for (const environment of await this.#deps.environments()) {
      if ('invalid' in environment) {
        this.#deps.log?.({ level: 'warn', msg: 'environment refused', error: environment.invalid });
        continue;
      }
      for (let steps = 0; steps < MAX_STEPS && (await this.reconcile(environment)) === 0; steps++);
    }
  }

  /**
   * One step for the environment: what to promote found, its oldest active promotion moved once, its
   * status written. Returns in how many ms to look again without an event: 0 when it moved (the next
   * step may follow at once), the gates' next deadline while committed, undefined when it waits for
   * an event (an approval, a run, a change of the Application). Errors are logged: undefined.
   */
  async reconcile(environment: ResolvedEnvironment): Promise<number | undefined> {
    try {
      const found = await this.#discover(environment);
      const again = await this.#advance(environment);
      if (found) return 0;
      // The image policy's next look at its registry, when that comes first.
      const policy = this.#policies?.dueIn(environment);
      return policy === undefined || (again !== undefined && again <= policy) ? again : policy;
    } catch (error) {
      this.#deps.log?.({
        level: 'error',
        msg: 'promotion step failed',
        environment: `${environment.namespace}/${environment.name}`,
        error: messageOf(error),
      });
      return undefined;
    }
  }

  /** Records a new promotion (Pending), superseding the environment's promotions not yet committed. */
  request(request: PromotionRequest): Promise<PromotionRecord> {
    return requestPromotion(this.#deps, request);
  }

  // ── 1. What to promote ────────────────────────────────────────────────────────────────────────

  /** True when it recorded a new promotion. */
  async #discover(env: ResolvedEnvironment): Promise<boolean> {
    let found = false;
    if (env.fromPipeline !== undefined) {
      const [run] = await this.#deps.runs.list({
        namespace: env.namespace,
        pipeline: env.fromPipeline.name,
        phase: 'Succeeded',
        ...(env.fromPipeline.branch === undefined ? {} : { branch: env.fromPipeline.branch }),
        limit: 1,
      });
      const wanted = env.fromPipeline.image;
      const image = run?.images.find(
        (i) => wanted === undefined || i.reference.split('@')[0]?.endsWith(wanted) === true,
      );
      const seen =
        run === undefined || image === undefined
          ? [undefined]
          : await this.#deps.promotions.list({
              namespace: env.namespace,
              environment: env.name,
              fromRun: run.id,
              limit: 1,
            });
      if (seen.length === 0 && run !== undefined && image !== undefined) {
        await this.request({ environment: env, image: image.reference, by: AUTO, fromRun: run.id });
        found = true;
      }
    }
    if (env.fromEnvironment !== undefined) {
      const [verified] = await this.#deps.promotions.list({
        namespace: env.namespace,
        environment: env.fromEnvironment,
        state: 'Verified',
        limit: 1,
      });
      const seen =
        verified === undefined
          ? [undefined]
          : await this.#deps.promotions.list({
              namespace: env.namespace,
              environment: env.name,
              fromPromotion: verified.id,
              limit: 1,
            });
      if (seen.length === 0 && verified !== undefined) {
        found = true;
        await this.request({
          environment: env,
          image: verified.image,
          by: AUTO,
          fromEnvironment: env.fromEnvironment,
          fromPromotion: verified.id,
          ...(verified.fromRun === undefined ? {} : { fromRun: verified.fromRun }),
        });
      }
    }
    if (env.fromImagePolicy !== undefined && this.#policies !== undefined)
      found =
        (await this.#policies.look(env, async (choice) => {
          // Requested unless the environment's latest promotion is of that image already.
          const [latest] = await this.#deps.promotions.list({
            namespace: env.namespace,
            environment: env.name,
            limit: 1,
          });
          if (latest?.image !== choice.image)
            await this.request({ environment: env, image: choice.image, by: AUTO });
        })) || found;
    return found;
  }

  // ── 2. One step of the oldest active promotion ────────────────────────────────────────────────

  /** Moves the oldest active promotion one step; in how many ms to look again (see reconcile). */
  async #advance(env: ResolvedEnvironment): Promise<number | undefined> {
    const active = await this.#deps.promotions.list({
      namespace: env.namespace,
      environment: env.name,
      active: true,
      limit: 100,
    });
    const oldest = active.at(-1);
    let again: number | undefined;
    switch (oldest?.state) {
      case 'Pending':
        await this.#move(
          oldest,
          { type: 'start', approvalRequired: env.approvalRequired },
          env.approvalRequired
            ? { message: 'waiting for an approval by a role of the project that allows approve' }
            : {},
        );
        again = 0;
        break;
      case 'Approved':
        await this.#commit(env, oldest);
        again = 0;
        break;
      case 'Committed':
        again = await this.#gates(env, oldest);
        break;
      default:
        break;
    }
    await this.#status(env);
    return again;
  }

  async #commit(env: ResolvedEnvironment, promotion: PromotionRecord): Promise<void> {
    let written: ImageCommit;
    try {
      written = await this.#deps.commit(
        env,
        promotion.image,
        promotionCommitMessage(promotion, env.location),
      );
    } catch (error) {
      await this.#move(promotion, { type: 'fail', reason: 'CommitFailed' }, { message: messageOf(error) });
      return;
    }
    const at = this.#deps.now().toISOString();
    await this.#move(
      promotion,
      { type: 'committed', commit: written.commit },
      {
        commit: written.commit,
        committedAt: at,
        ...(written.previous === undefined ? {} : { previousImage: written.previous }),
        message: `committed ${written.commit.slice(0, 12)} to ${env.branch}; waiting for ${env.application} to sync it`,
      },
    );
    await this.#deps.refresh(env.namespace, env.application).catch((error: unknown) => {
      this.#deps.log?.({
        level: 'warn',
        msg: 'refresh not requested',
        application: `${env.namespace}/${env.application}`,
        error: messageOf(error),
      });
    });
  }

  /** The gates; 0 when the promotion ended, else in how many ms a clock of the gates runs out. */
  async #gates(env: ResolvedEnvironment, promotion: PromotionRecord): Promise<number> {
    const app = (await this.#deps.application(env.namespace, env.application)) ?? {};
    const commit = promotion.commit ?? '';
    const contains = await this.#contains(env, commit, app.revision);
    const verdict = evaluateGates(app, {
      commit,
      ...(contains === undefined ? {} : { revisionContainsCommit: contains }),
      committedAt: promotion.committedAt ?? promotion.updatedAt,
      ...(promotion.healthySince === undefined ? {} : { healthySince: promotion.healthySince }),
      now: this.#deps.now().toISOString(),
      healthyForSeconds: env.healthyForSeconds,
      timeoutSeconds: env.timeoutSeconds,
    });
    if (verdict.kind === 'pass') {
      const ran =
        app.revision === commit
          ? `${env.application} ran ${commit.slice(0, 12)} Synced and Healthy for ${String(env.healthyForSeconds)} s`
          : `${env.application} ran ${app.revision?.slice(0, 12) ?? ''}, which contains ${commit.slice(0, 12)}, Synced and Healthy for ${String(env.healthyForSeconds)} s`;
      return this.#verify(env, promotion, ran);
    }
    if (verdict.kind === 'fail') {
      await this.#move(promotion, { type: 'fail', reason: verdict.reason }, { message: verdict.message });
      return 0;
    }
    if (verdict.why !== promotion.message || verdict.healthySince !== promotion.healthySince)
      await this.#deps.promotions.update(promotion.id, 'Committed', {
        message: verdict.why,
        updatedAt: this.#deps.now().toISOString(),
        healthySince: verdict.healthySince,
      });
    const now = this.#deps.now().getTime();
    const timeout = Date.parse(promotion.committedAt ?? promotion.updatedAt) + env.timeoutSeconds * 1000;
    const healthy =
      verdict.healthySince === undefined
        ? Infinity
        : Date.parse(verdict.healthySince) + env.healthyForSeconds * 1000;
    return Math.max(0, Math.min(timeout, healthy) - now) + CLOCK_MARGIN_MS;
  }

  /**
   * After health: the environment's check (gates.verify), asked until it answers as expected (Verified,
   * its answer in the message and the step) or the timeout (Failed, VerificationFailed).
   */
  async #verify(env: ResolvedEnvironment, promotion: PromotionRecord, ran: string): Promise<number> {
    if (env.verify === undefined) {
      await this.#move(promotion, { type: 'verified' }, { message: ran });
      return 0;
    }
    const result: VerificationResult = this.#deps.verify
      ? await this.#deps.verify(env.verify.url)
      : { url: env.verify.url, error: 'this server does not run checks' };
    const said = describeVerification(result, env.verify.expectStatus);
    if (verificationPassed(result, env.verify.expectStatus)) {
      await this.#move(promotion, { type: 'verified' }, { message: `${ran}; ${said}` });
      return 0;
    }
    const now = this.#deps.now().getTime();
    const timeout = Date.parse(promotion.committedAt ?? promotion.updatedAt) + env.timeoutSeconds * 1000;
    if (now >= timeout) {
      await this.#move(
        promotion,
        { type: 'fail', reason: 'VerificationFailed' },
        { message: `${said}, ${String(env.timeoutSeconds)} s after the commit` },
      );
      return 0;
    }
    const message = `${ran}; ${said}`;
    if (message !== promotion.message)
      await this.#deps.promotions.update(promotion.id, 'Committed', {
        message,
        updatedAt: this.#deps.now().toISOString(),
      });
    return Math.min(VERIFY_EVERY_MS, timeout - now + CLOCK_MARGIN_MS);
  }

  /** Whether the Application's revision contains the commit (undefined: the same, none, or not asked). */
  async #contains(
    env: ResolvedEnvironment,
    commit: string,
    revision: string | undefined,
  ): Promise<boolean | undefined> {
    if (revision === undefined || revision === commit || commit === '' || !this.#deps.contains)
      return undefined;
    const key = `${commit}..${revision}`;
    const known = this.#ancestry.get(key);
    if (known !== undefined) return known;
    try {
      const answer = await this.#deps.contains(env, commit, revision);
      // Two commits' ancestry never changes: kept (bounded).
      if (this.#ancestry.size >= 1000) this.#ancestry.clear();
      this.#ancestry.set(key, answer);
      return answer;
    } catch (error) {
      this.#deps.log?.({
        level: 'warn',
        msg: 'ancestry not known',
        environment: `${env.namespace}/${env.name}`,
        commit,
        revision,
        error: messageOf(error),
      });
      return undefined;
    }
  }

  /** Moves the promotion by the state machine, recording the step; undefined when another writer moved it first. */
  async #move(
    promotion: PromotionRecord,
    event: PromotionEvent,
    change: PromotionUpdate = {},
  ): Promise<PromotionRecord | undefined> {
    return decide(this.#deps, promotion, event, change);
  }

  /** The Environment's status, written when it differs from what the Environment shows. */
  async #status(env: ResolvedEnvironment): Promise<void> {
    const status = await environmentStatusOf(this.#deps.promotions, env);
    if (status === undefined) return;
    // Compared field by field: the API server gives the keys back in its own order.
    const shown = (s: EnvironmentStatus | undefined) => {
      const l = s?.lastPromotion;
      return [s?.currentImage, l?.id, l?.state, l?.image, l?.commit, l?.reason].join('\n');
    };
    if (shown(env.status) === shown(status)) return;
    await this.#deps.writeStatus(env.namespace, env.name, status);
  }
}

/** An Environment's status: the image of its latest Verified promotion, and its latest promotion. */
export async function environmentStatusOf(
  promotions: PromotionStore,
  env: Pick<ResolvedEnvironment, 'namespace' | 'name'>,
): Promise<EnvironmentStatus | undefined> {
  const [latest] = await promotions.list({ namespace: env.namespace, environment: env.name, limit: 1 });
  if (latest === undefined) return undefined;
  const [verified] = await promotions.list({
    namespace: env.namespace,
    environment: env.name,
    state: 'Verified',
    limit: 1,
  });
  return {
    ...(verified === undefined ? {} : { currentImage: verified.image }),
    lastPromotion: {
      id: latest.id,
      state: latest.state,
      image: latest.image,
      ...(latest.commit === undefined ? {} : { commit: latest.commit }),
      ...(latest.reason === undefined ? {} : { reason: latest.reason }),
    },
  };
}

/**
 * One step of a promotion by the state machine, written only if the promotion is still in the state
 * it was read in (the Store's conditional update): a second approver, or the driver and an approver
 * at once, never both move it. Undefined when it moved first. PROMOTION_STATE when the event does not
 * apply to its state.
 */
export async function decide(
  deps: Pick<PromotionDeps, 'promotions' | 'now' | 'log' | 'metrics'>,
  promotion: PromotionRecord,
  event: PromotionEvent,
  change: PromotionUpdate = {},
): Promise<PromotionRecord | undefined> {
  const state = nextPromotionState(promotion.state, event);
  const at = deps.now().toISOString();
  const by = event.type === 'approve' || event.type === 'reject' ? event.by : AUTO;
  const reason = event.type === 'fail' ? event.reason : event.type === 'reject' ? 'Rejected' : undefined;
  // A decision replaces the message of the state before ("waiting for an approval …").
  const message =
    change.message ??
    (event.type === 'approve'
      ? `approved by ${event.by}; it is committed next`
      : event.type === 'reject'
        ? `rejected by ${event.by}; nothing is committed`
        : undefined);
  const moved = await deps.promotions.update(promotion.id, promotion.state, {
    ...change,
    ...(message === undefined ? {} : { message }),
    state,
    updatedAt: at,
    ...(reason === undefined ? {} : { reason }),
    ...(event.type === 'approve' ? { approvedBy: event.by } : {}),
    ...(event.type === 'reject' ? { rejectedBy: event.by } : {}),
    ...(isFinal(state) ? { finishedAt: at } : {}),
    steps: [...promotion.steps, { state, at, by, ...(message === undefined ? {} : { message }) }],
  });
  if (moved !== undefined) deps.metrics?.moved(moved);
  if (moved !== undefined)
    deps.log?.({
      level: 'info',
      msg: `promotion ${state}`,
      promotion: promotion.id,
      environment: `${promotion.namespace}/${promotion.environment}`,
      ...(reason === undefined ? {} : { reason }),
    });
  return moved;
}

/**
 * Records a new promotion, Pending (the driver takes it from there), after failing as Superseded the
 * environment's promotions not yet committed. PROMOTION_IMAGE_INVALID for an image not by digest.
 */
export async function requestPromotion(
  deps: Pick<PromotionDeps, 'promotions' | 'now' | 'newId' | 'log' | 'metrics'>,
  request: PromotionRequest,
): Promise<PromotionRecord> {
  parseDigestReference(request.image);
  const env = request.environment;
  const at = deps.now().toISOString();
  const older = await deps.promotions.list({
    namespace: env.namespace,
    environment: env.name,
    active: true,
    limit: 100,
  });
  for (const promotion of older)
    if (promotion.state !== 'Committed')
      await decide(
        deps,
        promotion,
        { type: 'fail', reason: 'Superseded' },
        {
          message: 'a newer promotion of this environment was requested before this one was committed',
        },
      );
  const record: PromotionRecord = {
    id: deps.newId(),
    namespace: env.namespace,
    environment: env.name,
    project: env.project,
    image: request.image,
    ...(request.fromRun === undefined ? {} : { fromRun: request.fromRun }),
    ...(request.fromEnvironment === undefined ? {} : { fromEnvironment: request.fromEnvironment }),
    ...(request.fromPromotion === undefined ? {} : { fromPromotion: request.fromPromotion }),
    state: 'Pending',
    requestedBy: request.by,
    createdAt: at,
    updatedAt: at,
    steps: [{ state: 'Pending', at, by: request.by }],
  };
  await deps.promotions.create(record);
  deps.metrics?.moved(record);
  deps.log?.({
    level: 'info',
    msg: 'promotion requested',
    promotion: record.id,
    environment: `${env.namespace}/${env.name}`,
    image: record.image,
  });
  return record;
}
