// Code loaded on demand without React's Suspense. React 19 holds back a Suspense boundary's content for
// up to 300 ms after its fallback showed, which alone made an application's tree take twice as long;
// here a chunk starts loading as soon as it is known to be needed (preload) and its page renders in
// the frame it arrives. A chunk that fails to load (a new deployment replaced it) shows the error and a
// retry.
import { useEffect, useState, type ReactNode } from 'react';
import { Failure, Loading } from './components/States.tsx';
import type { Loaded } from './hooks.ts';

export interface OnDemand<T> {
  /** Unique per module: views of different modules never share their state. */
  readonly id: number;
  /** Starts loading (once); later calls share the same promise. */
  readonly preload: () => Promise<T>;
  /** The module's state; re-renders the caller when it arrives. */
  readonly use: () => Loaded<T> & { readonly retry: () => void };
}

let modules = 0;

export function onDemand<T>(importer: () => Promise<T>): OnDemand<T> {
  let pending: Promise<T> | undefined;
  let loaded: T | undefined;
  const preload = () =>
    (pending ??= importer().then(
      (module) => {
        loaded = module;
        return module;
      },
      (error: unknown) => {
        pending = undefined;
        throw error;
      },
    ));
  const use = () => {
    const [state, setState] = useState<Loaded<T>>(() =>
      loaded === undefined ? { state: 'loading' } : { state: 'ready', value: loaded },
    );
    const [attempt, setAttempt] = useState(0);
    useEffect(() => {
      // Loaded between this view's first render and this effect (a preload started it earlier): take
      // it now, or the view would wait for a promise it never asked for and show "Loading" for good.
      const arrived = loaded;
      if (arrived !== undefined) {
        setState((current) => (current.state === 'ready' ? current : { state: 'ready', value: arrived }));
        return;
      }
      let live = true;
      preload().then(
        (value) => {
          if (live) setState({ state: 'ready', value });
        },
        (error: unknown) => {
          if (live) setState({ state: 'failed', error });
        },
      );
      return () => {
        live = false;
      };
    }, [attempt]);
    const retry = () => {
      setState({ state: 'loading' });
      setAttempt((a) => a + 1);
    };
    return { ...state, retry };
  };
  return { id: ++modules, preload, use };
}

/**
 * Renders `render(module)` once the module is loaded; until then "Loading {what}…", or the failure.
 * Keyed by the module: a route that swaps one module for another in the same place starts afresh.
 */
export function OnDemandView<T>(props: OnDemandViewProps<T>) {
  return <ModuleView key={props.module.id} {...props} />;
}

interface OnDemandViewProps<T> {
  readonly module: OnDemand<T>;
  readonly what: string;
  readonly render: (module: T) => ReactNode;
}

function ModuleView<T>(props: OnDemandViewProps<T>) {
  const chunk = props.module.use();
  if (chunk.state === 'loading') return <Loading what={props.what} />;
  if (chunk.state === 'failed') return <Failure error={chunk.error} retry={chunk.retry} />;
  return props.render(chunk.value);
}
