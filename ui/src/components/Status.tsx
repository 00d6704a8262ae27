// Sync and health shown the same way everywhere: a symbol and the word (never colour alone).
const HEALTH_SYMBOL: Readonly<Record<string, string>> = {
  Healthy: '♥',
  Progressing: '◔',
  Degraded: '✖',
  Suspended: '⏸',
  Missing: '?',
  Unknown: '·',
};
const SYNC_SYMBOL: Readonly<Record<string, string>> = { Synced: '✔', OutOfSync: '↻', Unknown: '·' };

export function Health(props: { readonly value: string | undefined }) {
  const value = props.value ?? 'Unknown';
  return (
    <span className={`badge health-${value.toLowerCase()}`} data-health={value}>
      <span aria-hidden="true">{HEALTH_SYMBOL[value] ?? '·'}</span> {value}
    </span>
  );
}

export function Sync(props: { readonly value: string | undefined }) {
  const value = props.value ?? 'Unknown';
  return (
    <span className={`badge sync-${value.toLowerCase()}`} data-sync={value}>
      <span aria-hidden="true">{SYNC_SYMBOL[value] ?? '·'}</span> {value}
    </span>
  );
}
