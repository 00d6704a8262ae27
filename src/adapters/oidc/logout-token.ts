/**
 * OpenID Connect Back-Channel Logout 1.0, section 2.6: a logout token checked as a relying party must.
 * Its signature by one of the provider's keys (its JWKS; asymmetric algorithms only: `none` and the
 * client-secret HMACs are refused), then its claims: `iss` the provider's, `aud` this client, `iat`
 * present and not from the future, not expired (`exp`, or no older than LOGOUT_TOKEN_MAX_AGE_MS
 * without one), the back-channel logout event, `sub` or `sid`, a `jti`, and no `nonce` (which would
 * make it an ID token). Every refusal says which check failed (LOGOUT_TOKEN_INVALID); none repeats the
 * token. Node's crypto verifies; no claim is trusted before the signature is.
 */
import { constants, createPublicKey, verify, type JsonWebKey, type KeyObject } from 'node:crypto';
import { CapstanError } from '../../core/errors.ts';
import type { LogoutClaims } from '../../ports/single-sign-on.ts';

export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
/** A logout token without `exp` is refused this long after its `iat`. */
export const LOGOUT_TOKEN_MAX_AGE_MS = 10 * 60 * 1000;
/** Clock difference allowed with the provider. */
export const LOGOUT_TOKEN_LEEWAY_MS = 60 * 1000;
/** Longer tokens are refused before any parsing. */
const MAX_TOKEN_CHARS = 16 * 1024;

/** A key of the provider's JWKS, as its `keys` array holds it. */
export type Jwk = JsonWebKey & { readonly kid?: string; readonly use?: string; readonly alg?: string };

interface Algorithm {
  readonly digest: string | null;
  readonly kty: string;
  readonly crv?: readonly string[];
  readonly options?: { padding?: number; saltLength?: number; dsaEncoding?: 'ieee-p1363' };
}

const PSS = { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST };
const ALGORITHMS: Readonly<Record<string, Algorithm>> = {
  RS256: { digest: 'sha256', kty: 'RSA', options: { padding: constants.RSA_PKCS1_PADDING } },
  RS384: { digest: 'sha384', kty: 'RSA', options: { padding: constants.RSA_PKCS1_PADDING } },
  RS512: { digest: 'sha512', kty: 'RSA', options: { padding: constants.RSA_PKCS1_PADDING } },
  PS256: { digest: 'sha256', kty: 'RSA', options: PSS },
  PS384: { digest: 'sha384', kty: 'RSA', options: PSS },
  PS512: { digest: 'sha512', kty: 'RSA', options: PSS },
  ES256: { digest: 'sha256', kty: 'EC', crv: ['P-256'], options: { dsaEncoding: 'ieee-p1363' } },
  ES384: { digest: 'sha384', kty: 'EC', crv: ['P-384'], options: { dsaEncoding: 'ieee-p1363' } },
  ES512: { digest: 'sha512', kty: 'EC', crv: ['P-521'], options: { dsaEncoding: 'ieee-p1363' } },
  EdDSA: { digest: null, kty: 'OKP', crv: ['Ed25519', 'Ed448'] },
  Ed25519: { digest: null, kty: 'OKP', crv: ['Ed25519'] },
};

const invalid = (why: string) => new CapstanError('LOGOUT_TOKEN_INVALID', `the logout token ${why}`);

/** A compact JWS split and its header and payload parsed; nothing verified yet. */
export interface ParsedJws {
  readonly header: Readonly<Record<string, unknown>>;
  readonly payload: Readonly<Record<string, unknown>>;
  readonly signed: Buffer;
  readonly signature: Buffer;
}

export function parseJws(token: string): ParsedJws {
  if (token.length > MAX_TOKEN_CHARS) throw invalid(`is longer than ${MAX_TOKEN_CHARS} characters`);
  const parts = token.split('.');
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]*$/.test(p)))
    throw invalid('is not a signed JWT (three base64url parts separated by dots)');
  const [head = '', body = '', signature = ''] = parts;
  return {
    header: jsonPart(head, 'header'),
    payload: jsonPart(body, 'payload'),
    signed: Buffer.from(`${head}.${body}`),
    signature: Buffer.from(signature, 'base64url'),
  };
}

function jsonPart(part: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw invalid(`has a ${what} that is not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw invalid(`has a ${what} that is not a JSON object`);
  return value as Record<string, unknown>;
}

/** The algorithm of the header, or a refusal naming it. */
export function algorithmOf(header: ParsedJws['header']): string {
  const alg = header['alg'];
  if (typeof alg !== 'string') throw invalid('has no alg in its header');
  if (ALGORITHMS[alg] === undefined)
    throw invalid(
      `is signed with ${alg}: only the provider's keys (${Object.keys(ALGORITHMS).join(', ')}) are accepted`,
    );
  const typ = header['typ'];
  if (typ !== undefined && typ !== 'logout+jwt' && typ !== 'JWT')
    throw invalid(`has the type ${JSON.stringify(typ)}, not logout+jwt`);
  if (header['crit'] !== undefined) throw invalid('has critical header extensions this server does not know');
  return alg;
}

/** The JWKS keys that may have signed it: by `kid` when the header names one, else by type. */
export function candidateKeys(header: ParsedJws['header'], keys: readonly Jwk[]): Jwk[] {
  const alg = algorithmOf(header);
  const spec = ALGORITHMS[alg];
  const kid = header['kid'];
  return keys.filter(
    (key) =>
      spec !== undefined &&
      key.kty === spec.kty &&
      (spec.crv === undefined || (typeof key.crv === 'string' && spec.crv.includes(key.crv))) &&
      (key.use === undefined || key.use === 'sig') &&
      (key.alg === undefined || key.alg === alg) &&
      (typeof kid !== 'string' || key.kid === kid),
  );
}

/** Whether one of `keys` signed it. */
export function signedBy(jws: ParsedJws, keys: readonly Jwk[]): boolean {
  const alg = algorithmOf(jws.header);
  const spec = ALGORITHMS[alg];
  if (spec === undefined) return false;
  return keys.some((jwk) => {
    let key: KeyObject;
    try {
      key = createPublicKey({ key: jwk, format: 'jwk' });
    } catch {
      return false;
    }
    try {
      return verify(spec.digest, jws.signed, { key, ...spec.options }, jws.signature);
    } catch {
      return false;
    }
  });
}

export interface LogoutExpectations {
  readonly issuer: string;
  readonly clientId: string;
  /** The server's clock, ms. */
  readonly now: number;
}

/** The claims checked (section 2.6, steps 3 to 6); the signature must have been verified first. */
export function logoutClaimsOf(payload: ParsedJws['payload'], expect: LogoutExpectations): LogoutClaims {
  if (payload['iss'] !== expect.issuer)
    throw invalid(`was issued by ${JSON.stringify(payload['iss'])}, not the provider ${expect.issuer}`);
  const aud = payload['aud'];
  const audiences = Array.isArray(aud) ? aud : [aud];
  if (!audiences.includes(expect.clientId))
    throw invalid(`is for the audience ${JSON.stringify(aud)}, not this client (${expect.clientId})`);
  const iat = seconds(payload, 'iat');
  if (iat === undefined) throw invalid('has no iat (issued at)');
  if (iat - LOGOUT_TOKEN_LEEWAY_MS > expect.now) throw invalid('was issued in the future (iat)');
  const exp = seconds(payload, 'exp');
  const expiresAt = exp ?? iat + LOGOUT_TOKEN_MAX_AGE_MS;
  if (expiresAt + LOGOUT_TOKEN_LEEWAY_MS <= expect.now)
    throw invalid(
      exp === undefined
        ? `is expired: issued ${new Date(iat).toISOString()}, more than ${LOGOUT_TOKEN_MAX_AGE_MS / 60_000} minutes ago`
        : `is expired (exp ${new Date(exp).toISOString()})`,
    );
  const events = payload['events'];
  const event =
    typeof events === 'object' && events !== null
      ? (events as Record<string, unknown>)[BACKCHANNEL_LOGOUT_EVENT]
      : undefined;
  if (typeof event !== 'object' || event === null || Array.isArray(event))
    throw invalid(`has no events claim with the member ${BACKCHANNEL_LOGOUT_EVENT}`);
  if (payload['nonce'] !== undefined) throw invalid('carries a nonce: it is not a logout token');
  const subject = optionalString(payload, 'sub');
  const sid = optionalString(payload, 'sid');
  if (subject === undefined && sid === undefined) throw invalid('names neither a sub nor a sid');
  const jti = optionalString(payload, 'jti');
  if (jti === undefined) throw invalid('has no jti (it could not be told from a replay)');
  return {
    jti,
    expiresAt: new Date(
      Math.max(expiresAt, iat + LOGOUT_TOKEN_MAX_AGE_MS) + LOGOUT_TOKEN_LEEWAY_MS,
    ).toISOString(),
    ...(subject === undefined ? {} : { subject }),
    ...(sid === undefined ? {} : { sid }),
  };
}

function seconds(payload: ParsedJws['payload'], claim: string): number | undefined {
  const value = payload[claim];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value))
    throw invalid(`has a ${claim} that is not a number`);
  return value * 1000;
}

function optionalString(payload: ParsedJws['payload'], claim: string): string | undefined {
  const value = payload[claim];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') throw invalid(`has a ${claim} that is not a string`);
  return value;
}
