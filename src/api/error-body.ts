import type { ErrorCode } from '../core/errors.ts';

/**
 * The body of an error answer of the HTTP APIs (the server's ErrorBodySchema, the agent's API alike):
 * a stable code the compiler knows (ErrorCode, core/errors.ts), a message saying what was wrong and
 * what to do, and the fields some codes carry (FORBIDDEN: permission and project).
 */
export function errorBody(
  code: ErrorCode,
  message: string,
  extra: Readonly<Record<string, string>> = {},
): Record<string, string> {
  return { error: code, message, ...extra };
}
