import { CapstanError, type ErrorCode } from '../../core/errors.ts';

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
  const about = (code: ErrorCode, detail: string) =>
    new CapstanError(code, `${subject}: ${detail}`, {
      subject,
      retryable: RETRYABLE_STATUS.has(status),
      detail,
    });
  switch (status) {
    case 404:
      return about('KUBE_NOT_FOUND', message);
    case 403:
      return about('KUBE_FORBIDDEN', `${verb} is forbidden: ${message}`);
    case 409:
      return about('KUBE_CONFLICT', message);
    case 422:
      return about(isImmutable(s) ? 'KUBE_IMMUTABLE' : 'KUBE_INVALID', message);
    case 400:
      return about('KUBE_BAD_REQUEST', message);
    default:
      return about(
        RETRYABLE_STATUS.has(status) ? 'KUBE_UNAVAILABLE' : 'KUBE_ERROR',
        `${verb} failed (HTTP ${status}): ${message}`,
      );
  }
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
  const detail = `${what}; check that the cluster is up and the kubeconfig points at it`;
  return new CapstanError('KUBE_UNAVAILABLE', `${subject}: ${detail}`, {
    subject,
    retryable: true,
    cause: error,
    detail,
  });
}
