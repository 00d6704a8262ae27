// "Promote by hand" on the Environments page (POST /environments/{namespace}/{name}/promote,
// src/api/server/promotions.ts; `capstan promote` on the command line): an Environment, then an image by
// digest or a Succeeded pipeline run of its namespace (its image). The button is disabled with the
// reason when the caller's role in the Environment's project does not allow it (the API refuses it
// anyway); the API's answer is shown: the promotion asked, or the error as the server says it.
import { useState, type SyntheticEvent } from 'react';
import { call, query } from '../api.ts';
import { useLoad } from '../hooks.ts';
import { promotionPath } from '../paths.ts';
import { permit } from '../permissions.ts';
import { useSession } from '../session.ts';
import type { EnvironmentInfo, PromotionView, RunList } from '../types.ts';
import { ActionButton } from './Dialog.tsx';
import { Link } from './Link.tsx';
import { Failure } from './States.tsx';

/** Succeeded runs offered as suggestions for the chosen Environment's namespace. */
const SUGGESTED_RUNS = '20';
/** An image by digest, as the API takes it (the server checks it again). */
const BY_DIGEST = '\\S+@sha256:[0-9a-f]{64}';

type From = 'image' | 'run';
const keyOf = (env: EnvironmentInfo) => `${env.namespace}/${env.name}`;

export function PromoteForm(props: {
  readonly environments: readonly EnvironmentInfo[];
  readonly onPromoted: () => void;
}) {
  const grants = useSession();
  const [chosen, setChosen] = useState(() => (props.environments[0] ? keyOf(props.environments[0]) : ''));
  const env = props.environments.find((e) => keyOf(e) === chosen) ?? props.environments[0];
  const [from, setFrom] = useState<From>('image');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [asked, setAsked] = useState<PromotionView | undefined>();
  if (env === undefined) return null;
  const allowed = permit(grants, env.project, 'sync', { as: 'Promoting by hand' });
  const denied = allowed.allowed ? undefined : allowed.reason;
  const submit = (event: SyntheticEvent<HTMLFormElement>) => {
    event.preventDefault();
    const value = new FormData(event.currentTarget).get('value');
    const given = typeof value === 'string' ? value.trim() : '';
    setBusy(true);
    setError(undefined);
    setAsked(undefined);
    const path = `/environments/${encodeURIComponent(env.namespace)}/${encodeURIComponent(env.name)}/promote`;
    call<PromotionView>(path, {
      method: 'POST',
      body: from === 'image' ? { image: given } : { fromRun: given },
    }).then(
      (answer) => {
        setBusy(false);
        setAsked(answer);
        props.onPromoted();
      },
      (failure: unknown) => {
        setBusy(false);
        setError(failure);
      },
    );
  };
  return (
    <form className="run-form promote-form" onSubmit={submit} aria-labelledby="promote-title">
      <h2 id="promote-title">Promote by hand</h2>
      <div className="run-actions">
        <label htmlFor="promote-environment">Environment</label>
        <select
          id="promote-environment"
          value={keyOf(env)}
          onChange={(e) => {
            setChosen(e.target.value);
            setError(undefined);
          }}
        >
          {props.environments.map((e) => (
            <option key={keyOf(e)} value={keyOf(e)}>
              {keyOf(e)}
            </option>
          ))}
        </select>
        <label htmlFor="promote-from">From</label>
        <select
          id="promote-from"
          value={from}
          disabled={denied !== undefined}
          onChange={(e) => {
            setFrom(e.target.value === 'run' ? 'run' : 'image');
          }}
        >
          <option value="image">an image by digest</option>
          <option value="run">a pipeline run</option>
        </select>
        <label htmlFor="promote-value">{from === 'image' ? 'Image' : 'Run'}</label>
        <input
          id="promote-value"
          name="value"
          key={from}
          className="promote-value"
          required
          disabled={denied !== undefined}
          {...(from === 'image'
            ? {
                pattern: BY_DIGEST,
                title: 'An image by digest: name@sha256:<64 lowercase hexadecimal characters>',
                placeholder: 'registry/name@sha256:…',
              }
            : { list: 'promote-runs', placeholder: 'a Succeeded run’s id' })}
          aria-describedby="promote-help"
          autoComplete="off"
          spellCheck={false}
        />
        {from === 'run' ? <RunSuggestions namespace={env.namespace} /> : null}
        <ActionButton type="submit" id="promote" label="Promote" primary busy={busy} denied={denied} />
      </div>
      <p className="muted" id="promote-help">
        {from === 'image'
          ? 'The image is written to the Environment’s configuration by its digest, then the gates decide.'
          : `A Succeeded run of a Pipeline in ${env.namespace}: its image is promoted, and the promotion names the run.`}
        {env.approvalRequired ? ' This Environment asks for an approval first.' : ''}
      </p>
      {error === undefined ? null : <Failure error={error} />}
      {asked === undefined ? null : (
        <p className="request-state" role="status">
          Promotion <Link to={promotionPath(asked.id)}>{asked.id}</Link> of{' '}
          <code className="wrap">{asked.image}</code> to {asked.namespace}/{asked.environment} asked by{' '}
          {asked.requestedBy}; its page follows it to the end.
        </p>
      )}
    </form>
  );
}

/** The namespace's newest Succeeded runs with an image, offered in the run field. */
function RunSuggestions(props: { readonly namespace: string }) {
  const path = `/runs${query({ namespace: props.namespace, phase: 'Succeeded', limit: SUGGESTED_RUNS })}`;
  const [runs] = useLoad(path, (signal) => call<RunList>(path, { signal }));
  const items = runs.state === 'ready' ? runs.value.items.filter((run) => run.images.length > 0) : [];
  return (
    <datalist id="promote-runs">
      {items.map((run) => (
        <option key={run.id} value={run.id}>
          {run.pipeline} {run.branch ?? run.tag ?? ''} {run.images[0]?.reference ?? ''}
        </option>
      ))}
    </datalist>
  );
}
