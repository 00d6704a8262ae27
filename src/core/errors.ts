/**
 * Capstan's error type: a stable code, a message that says what was wrong and what to do, the
 * resource or file concerned where there is one, and whether retrying can help (DESIGN.md, "Errors").
 */
export interface ErrorDetails {
  /** `Kind/namespace/name`, a file path with line, or another subject the error is about. */
  readonly subject?: string;
  /** True when the same call may succeed later (transient); false when a new input is needed. */
  readonly retryable?: boolean;
  readonly cause?: unknown;
  /** The fields of the subject the error is about (`spec.template`), where the source names them. */
  readonly fields?: readonly string[];
}

export class CapstanError extends Error {
  readonly code: string;
  readonly subject: string | undefined;
  readonly retryable: boolean;
  readonly fields: readonly string[];

  constructor(code: string, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'CapstanError';
    this.code = code;
    this.subject = details.subject;
    this.retryable = details.retryable ?? false;
    this.fields = details.fields ?? [];
  }
}

/** The message of anything thrown, for logs and errors (never includes a stack). */
export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
