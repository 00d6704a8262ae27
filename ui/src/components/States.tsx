import type { ReactNode } from 'react';
import { ApiError, messageOf } from '../api.ts';

export function Loading(props: { readonly what: string }) {
  return (
    <p className="state loading" role="status" aria-live="polite">
      Loading {props.what}…
    </p>
  );
}

export function Empty(props: { readonly children: ReactNode }) {
  return <p className="state empty">{props.children}</p>;
}

export function Failure(props: { readonly error: unknown; readonly retry?: () => void }) {
  const code = props.error instanceof ApiError ? props.error.code : undefined;
  return (
    <div className="state failure" role="alert">
      <p>
        {code === undefined ? '' : <code>{code}</code>} {messageOf(props.error)}
      </p>
      {props.retry ? (
        <button type="button" onClick={props.retry}>
          Try again
        </button>
      ) : null}
    </div>
  );
}
