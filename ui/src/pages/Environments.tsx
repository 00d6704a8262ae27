// Environments and promotions (GET /environments, GET /promotions, src/api/server/promotions.ts): each
// Environment with its Application, what it follows, its current image and its latest promotion, read
// again when the server's event stream (GET /stream) tells of a change of an Environment or a
// promotion; a promotion's page with its steps as a timeline, followed live on the same stream until
// it ends. Approve and Reject are disabled with the reason when the role does not allow them or the
// promotion is not waiting, and the API refuses them anyway. Under the Environments, a form promotes an
// image or a run's image by hand (components/PromoteForm.tsx).
import { useEffect, useRef, useState } from 'react';
import { appPath, call, query } from '../api.ts';
import { ActionButton } from '../components/Dialog.tsx';
import { moveBetweenRows } from '../components/Catalogue.tsx';
import { Link } from '../components/Link.tsx';
import { PromoteForm } from '../components/PromoteForm.tsx';
import { Empty, Failure, Loading } from '../components/States.tsx';
import { useLoad } from '../hooks.ts';
import { promotionPath, runPath } from '../paths.ts';
import { permit } from '../permissions.ts';
import { useSession } from '../session.ts';
import { usePromotionStream, type PromotionStreamEvent } from '../stream.ts';
import type { EnvironmentInfo, EnvironmentList, PromotionList, PromotionView } from '../types.ts';

/** Changes closer together than this are read once, after the last. */
const COALESCE_MS = 300;
const RECENT = '20';

const STATE_CLASS: Readonly<Record<string, string>> = {
  Verified: 'health-healthy',
  Pending: 'health-progressing',
  Approved: 'health-progressing',
  Committed: 'health-progressing',
  WaitingForApproval: 'health-suspended',
  Rejected: 'health-degraded',
  Failed: 'health-degraded',
};
const FINAL_STATES: readonly string[] = ['Verified', 'Failed', 'Rejected'];

function State(props: { readonly value: string }) {
  return (
    <span className={`badge ${STATE_CLASS[props.value] ?? 'health-unknown'}`} data-state={props.value}>
      {props.value}
    </span>
  );
}

/** An image by digest, its digest shortened; the whole reference on hover and in a copy. */
function Image(props: { readonly reference: string | undefined }) {
  if (props.reference === undefined) return <span className="muted">none yet</span>;
  const at = props.reference.indexOf('@sha256:');
  const short =
    at < 0
      ? props.reference
      : `${props.reference.slice(0, at).split('/').at(-1) ?? ''}@${props.reference.slice(at + 8, at + 20)}`;
  return (
    <code className="image" title={props.reference} data-image={props.reference}>
      {short}
      <span className="visually-hidden"> ({props.reference})</span>
    </code>
  );
}

/**
 * Reads `load` now, and again when the event stream tells of a change it shows (`relevant`) or was
 * reset, keeping what it showed meanwhile; a burst of changes is read once.
 */
function useStreamed<T>(
  key: string,
  load: (signal: AbortSignal) => Promise<T>,
  relevant: (event: PromotionStreamEvent) => boolean,
) {
  const [loaded, reload] = useLoad(key, load);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(
    () => () => {
      clearTimeout(timer.current);
    },
    [],
  );
  usePromotionStream((event) => {
    if (event.type !== 'reset' && !relevant(event)) return;
    clearTimeout(timer.current);
    timer.current = setTimeout(reload, COALESCE_MS);
  });
  return [loaded, reload] as const;
}

export function EnvironmentsPage() {
  const [envs, reload] = useStreamed(
    'environments',
    (signal) => call<EnvironmentList>('/environments', { signal }),
    (event) => event.type === 'environment',
  );
  return (
    <section aria-labelledby="environments-title">
      <h1 id="environments-title">Environments</h1>
      {envs.state === 'loading' ? (
        <Loading what="the environments" />
      ) : envs.state === 'failed' ? (
        <Failure error={envs.error} retry={reload} />
      ) : envs.value.items.length === 0 ? (
        <Empty>No Environment you may read yet (docs/promotions.md says how to add one).</Empty>
      ) : (
        <>
          <EnvironmentTable items={envs.value.items} />
          <PromoteForm environments={envs.value.items} onPromoted={reload} />
        </>
      )}
      <RecentPromotions />
    </section>
  );
}

function EnvironmentTable(props: { readonly items: readonly EnvironmentInfo[] }) {
  return (
    <div className="table-scroll">
      <table className="environments">
        <thead>
          <tr>
            <th scope="col">Environment</th>
            <th scope="col">Application</th>
            <th scope="col">Follows</th>
            <th scope="col">Current image</th>
            <th scope="col">Latest promotion</th>
          </tr>
        </thead>
        <tbody onKeyDown={moveBetweenRows}>
          {props.items.map((env) => (
            <tr key={`${env.namespace}/${env.name}`} data-environment={`${env.namespace}/${env.name}`}>
              <th scope="row">
                {env.namespace}/{env.name}
                {env.approvalRequired ? <span className="muted"> (approval required)</span> : null}
              </th>
              <td>
                <Link to={appPath(env.namespace, env.application)}>{env.application}</Link>
              </td>
              <td>
                {env.fromPipeline !== undefined
                  ? `Pipeline ${env.fromPipeline}`
                  : env.fromEnvironment !== undefined
                    ? `environment ${env.fromEnvironment}`
                    : env.fromImagePolicy !== undefined
                      ? `${env.fromImagePolicy.repository} ${env.fromImagePolicy.semver}${env.imagePolicy?.tag === undefined ? '' : ` (chose ${env.imagePolicy.tag})`}`
                      : 'promotions by hand'}
                {env.imagePolicy?.error === undefined ? null : (
                  <div className="error" role="status">
                    {env.imagePolicy.error}
                  </div>
                )}
              </td>
              <td>
                <Image reference={env.currentImage} />
              </td>
              <td className="latest">
                {env.lastPromotion === undefined ? (
                  <span className="muted">none yet</span>
                ) : (
                  <>
                    <Link to={promotionPath(env.lastPromotion.id)}>
                      <State value={env.lastPromotion.state} /> {env.lastPromotion.id}
                    </Link>
                    {env.lastPromotion.reason === undefined ? null : (
                      <span className="message"> {env.lastPromotion.reason}</span>
                    )}
                  </>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function RecentPromotions() {
  const [page, reload] = useStreamed(
    'promotions',
    (signal) => call<PromotionList>(`/promotions${query({ limit: RECENT })}`, { signal }),
    (event) => event.type === 'promotion',
  );
  return (
    <section aria-labelledby="promotions-title">
      <h2 id="promotions-title">Recent promotions</h2>
      {page.state === 'loading' ? (
        <Loading what="the promotions" />
      ) : page.state === 'failed' ? (
        <Failure error={page.error} retry={reload} />
      ) : page.value.items.length === 0 ? (
        <Empty>No promotion yet.</Empty>
      ) : (
        <div className="table-scroll">
          <table className="promotions">
            <thead>
              <tr>
                <th scope="col">Promotion</th>
                <th scope="col">Environment</th>
                <th scope="col">State</th>
                <th scope="col">Image</th>
                <th scope="col">Asked</th>
              </tr>
            </thead>
            <tbody onKeyDown={moveBetweenRows}>
              {page.value.items.map((p) => (
                <tr key={p.id}>
                  <td>
                    <Link to={promotionPath(p.id)}>{p.id}</Link>
                  </td>
                  <td>
                    {p.namespace}/{p.environment}
                  </td>
                  <td>
                    <State value={p.state} />
                  </td>
                  <td>
                    <Image reference={p.image} />
                  </td>
                  <td>
                    {new Date(p.createdAt).toLocaleString()} by {p.requestedBy}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

export function PromotionPage(props: { readonly id: string }) {
  const path = promotionPath(props.id);
  const [promotion, reload, setPromotion] = useLoad(path, (signal) => call<PromotionView>(path, { signal }));
  // Each step of it, from the server's event stream; a reset (changes missed) reads it again.
  usePromotionStream((event) => {
    if (event.type === 'reset') reload();
    else if (event.type === 'promotion' && event.promotion.id === props.id) setPromotion(event.promotion);
  });
  const following =
    promotion.state === 'ready' && FINAL_STATES.includes(promotion.value.state) ? 'ended' : 'following';
  return (
    <article aria-labelledby="promotion-title">
      <nav aria-label="Breadcrumb" className="crumbs">
        <Link to="/environments">Environments</Link> /
      </nav>
      <h1 id="promotion-title">Promotion {props.id}</h1>
      {promotion.state === 'loading' ? (
        <Loading what={`promotion ${props.id}`} />
      ) : promotion.state === 'failed' ? (
        <Failure error={promotion.error} retry={reload} />
      ) : (
        <>
          <p className="muted" role="status" aria-live="polite">
            {following === 'following' ? 'Following the promotion…' : 'The promotion ended.'}
          </p>
          <Decision promotion={promotion.value} onChanged={setPromotion} />
          <PromotionFacts promotion={promotion.value} />
        </>
      )}
    </article>
  );
}

function Decision(props: {
  readonly promotion: PromotionView;
  readonly onChanged: (p: PromotionView) => void;
}) {
  const { promotion } = props;
  const allowed = permit(useSession(), promotion.project, 'approve', { as: 'Approving promotions' });
  const [busy, setBusy] = useState<'approve' | 'reject' | undefined>();
  const [error, setError] = useState<unknown>();
  const act = (action: 'approve' | 'reject') => {
    setBusy(action);
    setError(undefined);
    call<PromotionView>(`${promotionPath(promotion.id)}/${action}`, { method: 'POST' }).then(
      (answer) => {
        setBusy(undefined);
        props.onChanged(answer);
      },
      (failure: unknown) => {
        setBusy(undefined);
        setError(failure);
      },
    );
  };
  const denied = !allowed.allowed
    ? allowed.reason
    : promotion.state !== 'WaitingForApproval'
      ? `The promotion is ${promotion.state}, not waiting for an approval.`
      : undefined;
  return (
    <>
      <div className="run-actions">
        <ActionButton
          id="approve"
          label="Approve"
          primary
          busy={busy === 'approve'}
          denied={denied}
          onClick={() => {
            act('approve');
          }}
        />
        <ActionButton
          id="reject"
          label="Reject"
          busy={busy === 'reject'}
          denied={denied}
          onClick={() => {
            act('reject');
          }}
        />
      </div>
      {error === undefined ? null : <Failure error={error} />}
    </>
  );
}

function PromotionFacts(props: { readonly promotion: PromotionView }) {
  const p = props.promotion;
  return (
    <>
      <dl className="facts">
        <dt>State</dt>
        <dd>
          <State value={p.state} /> {p.reason ?? ''}{' '}
          {p.message === undefined ? null : <span className="message">{p.message}</span>}
        </dd>
        <dt>Environment</dt>
        <dd>
          <Link to="/environments">
            {p.namespace}/{p.environment}
          </Link>{' '}
          (project {p.project})
        </dd>
        <dt>Image</dt>
        <dd>
          <code className="wrap">{p.image}</code>
        </dd>
        {p.previousImage === undefined ? null : (
          <>
            <dt>Before</dt>
            <dd>
              <code className="wrap">{p.previousImage}</code>
            </dd>
          </>
        )}
        <dt>From</dt>
        <dd>
          {p.fromEnvironment !== undefined ? (
            <>
              environment {p.fromEnvironment}
              {p.fromPromotion === undefined ? null : (
                <>
                  {' '}
                  (promotion <Link to={promotionPath(p.fromPromotion)}>{p.fromPromotion}</Link>)
                </>
              )}
              {p.fromRun === undefined ? null : ', '}
            </>
          ) : null}
          {p.fromRun !== undefined ? (
            <>
              run <Link to={runPath(p.fromRun)}>{p.fromRun}</Link>
            </>
          ) : p.fromEnvironment === undefined ? (
            'an image given by hand'
          ) : null}
        </dd>
        <dt>Commit</dt>
        <dd>{p.commit === undefined ? <span className="muted">none yet</span> : <code>{p.commit}</code>}</dd>
        <dt>People</dt>
        <dd>
          asked by {p.requestedBy}
          {p.approvedBy === undefined ? '' : `, approved by ${p.approvedBy}`}
          {p.rejectedBy === undefined ? '' : `, rejected by ${p.rejectedBy}`}
        </dd>
      </dl>
      <h2>Steps</h2>
      <ol className="timeline">
        {p.steps.map((step, index) => (
          <li key={`${String(index)}-${step.state}`}>
            <State value={step.state} /> <time dateTime={step.at}>{new Date(step.at).toLocaleString()}</time>
            {step.by === undefined ? '' : ` by ${step.by}`}
            {step.message === undefined ? null : <span className="message"> {step.message}</span>}
          </li>
        ))}
        {FINAL_STATES.includes(p.state) ? null : <li className="muted">next step to come…</li>}
      </ol>
    </>
  );
}
