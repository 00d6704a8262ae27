// The server's event stream (GET /api/v1/stream), one EventSource for the whole app. The browser
// reconnects by itself and sends Last-Event-ID, so the server replays what was missed; `reset` means
// that is gone and lists must be read again.
import { useEffect, useRef } from 'react';
import { API } from './api.ts';
import type { ApplicationSummary } from './types.ts';

export type StreamEvent =
  | { readonly type: 'added' | 'modified' | 'deleted'; readonly application: ApplicationSummary }
  | { readonly type: 'reset' };

type Listener = (event: StreamEvent) => void;
const listeners = new Set<Listener>();
let source: EventSource | undefined;

function open(): void {
  if (source) return;
  source = new EventSource(`${API}/stream`, { withCredentials: true });
  for (const type of ['added', 'modified', 'deleted'] as const)
    source.addEventListener(type, (message: MessageEvent<string>) => {
      const application = JSON.parse(message.data) as ApplicationSummary;
      for (const listener of listeners) listener({ type, application });
    });
  source.addEventListener('reset', () => {
    for (const listener of listeners) listener({ type: 'reset' });
  });
}

function close(): void {
  source?.close();
  source = undefined;
}

/** Calls `listener` for every change while the component is mounted. */
export function useStream(listener: Listener): void {
  const current = useRef(listener);
  current.current = listener;
  useEffect(() => {
    const forward: Listener = (event) => {
      current.current(event);
    };
    listeners.add(forward);
    open();
    return () => {
      listeners.delete(forward);
      if (listeners.size === 0) close();
    };
  }, []);
}
