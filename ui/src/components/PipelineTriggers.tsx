// A Pipeline's pipeline file's triggers at a branch's head (GET /pipelines/NS/NAME/triggers): which
// pushes (branches, tags, path filters), pull requests and people start its runs, read by the server
// from the repository as the pipeline driver reads it; or why the file gives none (missing, invalid).
import { Fragment, useState, type SyntheticEvent } from 'react';
import { call, query } from '../api.ts';
import { useLoad } from '../hooks.ts';
import { pipelinePath } from '../paths.ts';
import { triggerLines } from '../pipeline-starts.ts';
import type { PipelineInfo, PipelineTriggers } from '../types.ts';
import { LoadedView } from './Catalogue.tsx';

const branchOf = (ref: string) => ref.replace(/^refs\/heads\//, '');

export function FileTriggers(props: { readonly pipeline: PipelineInfo }) {
  const { pipeline } = props;
  const [branch, setBranch] = useState<string | undefined>();
  const path = `${pipelinePath(pipeline.namespace, pipeline.name)}/triggers${query({ branch })}`;
  const [triggers, reload] = useLoad(path, (signal) => call<PipelineTriggers>(path, { signal }));
  const choose = (event: SyntheticEvent<HTMLFormElement>) => {
    event.preventDefault();
    const value = new FormData(event.currentTarget).get('branch');
    const name = typeof value === 'string' ? value.trim() : '';
    setBranch(name === '' ? undefined : name);
  };
  return (
    <section aria-labelledby="triggers-title" className="triggers">
      <h2 id="triggers-title">Triggers</h2>
      <form className="run-actions" onSubmit={choose} aria-label="Read the triggers at a branch">
        <label htmlFor="triggers-branch">At branch</label>
        <input
          id="triggers-branch"
          name="branch"
          placeholder="the default branch"
          autoComplete="off"
          spellCheck={false}
          defaultValue={branch ?? ''}
        />
        <button type="submit">Read</button>
      </form>
      <LoadedView loaded={triggers} what={`the triggers of ${pipeline.file}`} retry={reload}>
        {(value) => <TriggerFacts triggers={value} />}
      </LoadedView>
    </section>
  );
}

function TriggerFacts(props: { readonly triggers: PipelineTriggers }) {
  const { triggers } = props;
  const where = (
    <>
      <code>{triggers.file}</code> at {branchOf(triggers.ref)} (commit{' '}
      <code title={triggers.commit}>{triggers.commit.slice(0, 12)}</code>)
    </>
  );
  if (triggers.state === 'missing')
    return <p className="trigger-state">There is no {where}: no run starts from that commit.</p>;
  if (triggers.state === 'invalid')
    return (
      <>
        <p className="trigger-state">{where} is not valid: a run of it fails at once, saying why.</p>
        <pre className="log">{triggers.problem}</pre>
      </>
    );
  return (
    <>
      <p className="trigger-state">As {where} says:</p>
      <dl className="facts">
        {triggerLines(triggers).map((line) => (
          <Fragment key={line.label}>
            <dt>{line.label}</dt>
            <dd>{line.value}</dd>
          </Fragment>
        ))}
      </dl>
    </>
  );
}
