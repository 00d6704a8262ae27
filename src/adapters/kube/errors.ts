import { CapstanError } from '../../core/errors.ts';

/** A Kubernetes API `Status` object, as returned with errors. */
export interface ApiStatus {
  kind?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: {
    name?: string;
    kind?: string;
    causes?: { reason?: string; message?: string; field?: string }[];
  };
}

const RETRYABLE_STATUS = new Set([429, 500, 502, 503, 504]);

/** Turns an HTTP error from the API server into a CapstanError saying what failed for which resource. */
export function apiError(status: number, body: unknown, subject: string, verb: string): CapstanError {
  const s = (typeof body === 'object' && body !== null ? body : {}) as ApiStatus;
  const message = s.message ?? (typeof body === 'string' ? body.slice(0, 300) : `HTTP ${status}`);
  const details = { subject, retryable: RETRYABLE_STATUS.has(status) };
  switch (status) {
    case 404:
      return new CapstanError('KUBE_NOT_FOUND', `${subject}: ${message}`, details);
    case 403:
      return new CapstanError('KUBE_FORBIDDEN', `${subject}: ${verb} is forbidden: ${message}`, details);
    case 409:
      return new CapstanError('KUBE_CONFLICT', `${subject}: ${message}`, details);
    case 422:
      return isImmutable(s)
        ? immutableError(s, message, subject, details)
        : new CapstanError('KUBE_INVALID', `${subject}: ${message}`, details);
    case 400:
      return new CapstanError('KUBE_BAD_REQUEST', `${subject}: ${message}`, details);
    default:
      return new CapstanError(
        RETRYABLE_STATUS.has(status) ? 'KUBE_UNAVAILABLE' : 'KUBE_ERROR',
        `${subject}: ${verb} failed (HTTP ${status}): ${message}`,
        details,
      );
  }
}

/**
 * An update the API server refused because immutable fields changed, in one line naming the fields:
 * its own message repeats the whole old value (a Job's pod template is kilobytes of Go struct).
 */
function immutableError(
  s: ApiStatus,
  message: string,
  subject: string,
  details: { subject: string; retryable: boolean },
): CapstanError {
  const fields = [
    ...new Set(
      (s.details?.causes ?? [])
        .filter((c) => /immutable/i.test(c.message ?? '') && c.field)
        .map((c) => c.field ?? ''),
    ),
  ];
  const what =
    fields.length > 0
      ? `immutable field${fields.length > 1 ? 's' : ''} ${fields.join(', ')} changed`
      : message.length > 200
        ? `an immutable field changed (${message.slice(0, 200)}…)`
        : `an immutable field changed (${message})`;
  return new CapstanError('KUBE_IMMUTABLE', `${subject}: ${what}`, { ...details, fields });
}

function isImmutable(s: ApiStatus): boolean {
  return (
    /immutable/i.test(s.message ?? '') ||
    (s.details?.causes ?? []).some((c) => /immutable/i.test(c.message ?? ''))
  );
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
]);

export function connectionError(error: unknown, server: string, subject: string): CapstanError {
  const code = (error as { code?: string }).code ?? '';
  const what = CONNECTION_CODES.has(code)
    ? `cannot reach the API server at ${server} (${code})`
    : `request to ${server} failed: ${(error as Error).message}`;
  return new CapstanError(
    'KUBE_UNAVAILABLE',
    `${subject}: ${what}; check that the cluster is up and the kubeconfig points at it`,
    {
      subject,
      retryable: true,
      cause: error,
    },
  );
}
