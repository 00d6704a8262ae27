// A Pod's container log (GET …/resource/logs, src/api/server/resources.ts): its last lines, and with
// Follow the new ones as they come (server-sent events) until Stop, the container's end or a refusal.
// The server says why a Pod has none (a kwok node runs no containers; a container name is needed).
import { useEffect, useRef, useState } from 'react';
import { API, ApiError, call, query } from '../../api.ts';
import { Empty, Failure, Loading } from '../../components/States.tsx';
import { useLoad } from '../../hooks.ts';
import type { PodLogs as PodLogsBody, ResourceNode } from '../../types.ts';

/** Lines kept on screen while following; the oldest go first. */
const KEPT_LINES = 5000;
const TAIL_LINES = '500';

export function PodLogs(props: { readonly path: string; readonly node: ResourceNode }) {
  const [container, setContainer] = useState('');
  const [following, setFollowing] = useState(false);
  const url = logsUrl(props.path, props.node, container, false);
  const [last, reload] = useLoad(url, (signal) => call<PodLogsBody>(url, { signal }));
  return (
    <div className="pod-logs">
      <form
        className="filters"
        onSubmit={(e) => {
          e.preventDefault();
          const field = new FormData(e.currentTarget).get('container');
          setContainer(typeof field === 'string' ? field.trim() : '');
          setFollowing(false);
          reload();
        }}
      >
        <label>
          Container <input name="container" defaultValue={container} placeholder="its only one" />
        </label>
        <button type="submit">Show</button>
        <button
          type="button"
          aria-pressed={following}
          disabled={last.state === 'failed'}
          title={last.state === 'failed' ? 'The log cannot be read: see why below.' : undefined}
          onClick={() => {
            setFollowing((f) => !f);
          }}
        >
          {following ? 'Stop' : 'Follow'}
        </button>
      </form>
      {last.state === 'loading' ? (
        <Loading what="the log" />
      ) : last.state === 'failed' ? (
        <Failure error={last.error} retry={reload} />
      ) : following ? (
        <FollowedLog url={logsUrl(props.path, props.node, container, true)} />
      ) : (
        <LogLines lines={last.value.lines} />
      )}
    </div>
  );
}

function logsUrl(path: string, node: ResourceNode, container: string, follow: boolean): string {
  return `${path}/resource/logs${query({
    namespace: node.namespace,
    name: node.name,
    container: container === '' ? undefined : container,
    tailLines: TAIL_LINES,
    follow: follow ? 'true' : undefined,
  })}`;
}

/** The log as it grows: the stream's `line` events, then `end` or `failure`. */
function FollowedLog(props: { readonly url: string }) {
  const [lines, setLines] = useState<readonly string[]>([]);
  const [ended, setEnded] = useState<{ readonly failure?: ApiError } | undefined>();
  const pending = useRef<string[]>([]);
  useEffect(() => {
    const source = new EventSource(`${API}${props.url}`, { withCredentials: true });
    // Lines are shown at most once a frame, so a chatty container does not re-render per line.
    let frame = 0;
    const flush = () => {
      frame = 0;
      const added = pending.current;
      pending.current = [];
      setLines((shown) => [...shown, ...added].slice(-KEPT_LINES));
    };
    source.addEventListener('line', (message: MessageEvent<string>) => {
      pending.current.push(JSON.parse(message.data) as string);
      if (frame === 0) frame = requestAnimationFrame(flush);
    });
    const finish = (failure?: ApiError) => {
      source.close();
      flush();
      setEnded(failure ? { failure } : {});
    };
    source.addEventListener('end', () => {
      finish();
    });
    source.addEventListener('error', () => {
      // The browser would reconnect and read the tail again: stop instead, and say so.
      finish(
        new ApiError(0, {
          error: 'STREAM_LOST',
          message: 'the connection to the server was lost: follow again',
        }),
      );
    });
    source.addEventListener('failure', (message: MessageEvent<string>) => {
      finish(new ApiError(502, JSON.parse(message.data) as { error: string; message: string }));
    });
    return () => {
      if (frame !== 0) cancelAnimationFrame(frame);
      source.close();
    };
  }, [props.url]);
  return (
    <>
      <p className="muted" role="status" aria-live="polite">
        {ended === undefined
          ? 'Following…'
          : ended.failure
            ? 'Stopped: the server ended it.'
            : 'The container stopped.'}
      </p>
      {ended?.failure ? <Failure error={ended.failure} /> : null}
      <LogLines lines={lines} />
    </>
  );
}

function LogLines(props: { readonly lines: readonly string[] }) {
  if (props.lines.length === 0) return <Empty>The log is empty.</Empty>;
  return (
    <pre className="manifest log" tabIndex={0} aria-label="Log">
      {props.lines.join('\n')}
    </pre>
  );
}
