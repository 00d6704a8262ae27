// The back-channel logout token's checks (src/adapters/oidc/logout-token.ts) on keys of each family the
// specification's providers use (RSA, PS, EC, Ed25519), and the header checks; the whole flow against a
// real provider is in test/unit/api/server-sso.test.ts.
import assert from 'node:assert/strict';
import { constants, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  BACKCHANNEL_LOGOUT_EVENT,
  candidateKeys,
  logoutClaimsOf,
  parseJws,
  signedBy,
  type Jwk,
} from '../../../src/adapters/oidc/logout-token.ts';

const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

function jws(
  header: Record<string, unknown>,
  claims: Record<string, unknown>,
  signature: (data: Buffer) => Buffer,
): string {
  const signed = `${part(header)}.${part(claims)}`;
  return `${signed}.${signature(Buffer.from(signed)).toString('base64url')}`;
}

const publicJwk = (key: KeyObject, kid: string): Jwk => ({ ...key.export({ format: 'jwk' }), kid });

const NOW = Date.parse('2026-12-07T00:00:00Z');
const CLAIMS = {
  iss: 'https://login.example.test',
  aud: ['capstan', 'other'],
  iat: NOW / 1000,
  exp: NOW / 1000 + 120,
  jti: 'j-1',
  sid: 's-1',
  events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
};
const EXPECT = { issuer: CLAIMS.iss, clientId: 'capstan', now: NOW };

describe('back-channel logout token checks', () => {
  const cases: [string, () => { keys: Jwk[]; token: string }][] = [
    [
      'RS256',
      () => {
        const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
        return {
          keys: [publicJwk(publicKey, 'r')],
          token: jws({ alg: 'RS256', kid: 'r' }, CLAIMS, (d) => sign('sha256', d, privateKey)),
        };
      },
    ],
    [
      'PS384',
      () => {
        const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
        const pss = { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 };
        return {
          keys: [publicJwk(publicKey, 'p')],
          token: jws({ alg: 'PS384', kid: 'p', typ: 'logout+jwt' }, CLAIMS, (d) => sign('sha384', d, pss)),
        };
      },
    ],
    [
      'ES256',
      () => {
        const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
        const es = { key: privateKey, dsaEncoding: 'ieee-p1363' as const };
        return {
          keys: [publicJwk(publicKey, 'e')],
          token: jws({ alg: 'ES256' }, CLAIMS, (d) => sign('sha256', d, es)),
        };
      },
    ],
    [
      'EdDSA (Ed25519)',
      () => {
        const { privateKey, publicKey } = generateKeyPairSync('ed25519');
        return {
          keys: [publicJwk(publicKey, 'd')],
          token: jws({ alg: 'EdDSA', kid: 'd' }, CLAIMS, (d) => sign(null, d, privateKey)),
        };
      },
    ],
  ];
  for (const [alg, make] of cases)
    it(`verifies a token signed with ${alg}, and refuses it once altered`, () => {
      const { keys, token } = make();
      const parsed = parseJws(token);
      assert.equal(signedBy(parsed, candidateKeys(parsed.header, keys)), true);
      assert.deepEqual(logoutClaimsOf(parsed.payload, EXPECT), {
        jti: 'j-1',
        sid: 's-1',
        expiresAt: new Date(NOW + 10 * 60 * 1000 + 60 * 1000).toISOString(),
      });
      const [head = '', , signature = ''] = token.split('.');
      const altered = parseJws(`${head}.${part({ ...CLAIMS, sid: 's-2' })}.${signature}`);
      assert.equal(signedBy(altered, candidateKeys(altered.header, keys)), false);
    });

  it('takes no key of another family or kid, and refuses none, HMAC and unknown types', () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
    const keys = [publicJwk(publicKey, 'e'), publicJwk(rsa, 'r')];
    assert.deepEqual(
      candidateKeys({ alg: 'RS256' }, keys).map((k) => k.kid),
      ['r'],
    );
    assert.deepEqual(candidateKeys({ alg: 'RS256', kid: 'e' }, keys), []);
    assert.throws(() => candidateKeys({ alg: 'none' }, keys), /signed with none/);
    assert.throws(() => candidateKeys({ alg: 'HS256' }, keys), /signed with HS256/);
    assert.throws(() => candidateKeys({ alg: 'RS256', typ: 'at+jwt' }, keys), /type "at\+jwt"/);
    assert.throws(() => candidateKeys({ alg: 'RS256', crit: ['b64'] }, keys), /critical/);
    assert.throws(() => parseJws('a.b'), /not a signed JWT/);
    assert.throws(() => parseJws(`${part('x')}.${part({})}.`), /header that is not a JSON object/);
  });

  it('refuses a token from the future, an iat-only token past its age, and a jti missing', () => {
    assert.throws(() => logoutClaimsOf({ ...CLAIMS, iat: NOW / 1000 + 600 }, EXPECT), /in the future/);
    const { exp: _exp, ...noExp } = CLAIMS;
    assert.ok(logoutClaimsOf({ ...noExp, iat: NOW / 1000 - 300 }, EXPECT));
    assert.throws(
      () => logoutClaimsOf({ ...noExp, iat: NOW / 1000 - 1200 }, EXPECT),
      /more than 10 minutes ago/,
    );
    const { jti: _jti, ...noJti } = CLAIMS;
    assert.throws(() => logoutClaimsOf(noJti, EXPECT), /no jti/);
    assert.throws(() => logoutClaimsOf({ ...CLAIMS, iat: 'now' }, EXPECT), /iat that is not a number/);
  });
});
