// Wiring of OIDC single sign-on for `capstan server`: the client secret from a file (a mounted Secret)
// or from a Secret of the server's namespace, the openid-client adapter, and the sealing key derived
// from the key every replica shares.
import { readFileSync } from 'node:fs';
import type { KubeCluster } from '../adapters/kube/kube-cluster.ts';
import { OpenIdSignOn } from '../adapters/oidc/openid-sign-on.ts';
import type { SsoOptions } from '../api/server/context.ts';
import { CapstanError, messageOf } from '../core/errors.ts';
import { secretText } from '../core/secret-data.ts';
import type { ResourceType } from '../ports/cluster.ts';
import { Sealer } from '../server/sealed.ts';

/** The key of the client secret in a Secret named by `clientSecretSecret`. */
export const OIDC_SECRET_KEY = 'client-secret';

export interface OidcServerOptions {
  readonly issuer: string;
  readonly clientId: string;
  /** A file holding the client secret (a mounted Secret's key); or: */
  readonly clientSecretFile?: string;
  /** A Secret of the server's namespace holding it under `client-secret`. */
  readonly clientSecretSecret?: string;
  /** Default `openid profile email groups`. */
  readonly scopes?: readonly string[];
  /** Default `groups`. */
  readonly groupsClaim?: string;
  /** Default `preferred_username`, then `email`, then `sub`. */
  readonly usernameClaim?: string;
  /** Groups whose members are global admins. Default none. */
  readonly adminGroups?: readonly string[];
  /** The address browsers reach the server at; the callback is `<publicUrl>/api/v1/auth/oidc/callback`. */
  readonly publicUrl: string;
  /** A plain-HTTP issuer (a loopback provider for tests). Default false. */
  readonly allowHttpIssuer?: boolean;
}

export async function singleSignOn(
  oidc: OidcServerOptions,
  at: {
    readonly cluster: KubeCluster;
    readonly secrets: ResourceType;
    readonly namespace: string;
    readonly key: Buffer;
    readonly now: () => number;
  },
): Promise<SsoOptions> {
  const clientSecret = await clientSecretOf(oidc, at);
  return {
    signOn: new OpenIdSignOn({
      issuer: oidc.issuer,
      clientId: oidc.clientId,
      clientSecret,
      ...(oidc.scopes === undefined ? {} : { scopes: oidc.scopes }),
      ...(oidc.groupsClaim === undefined ? {} : { groupsClaim: oidc.groupsClaim }),
      ...(oidc.usernameClaim === undefined ? {} : { usernameClaim: oidc.usernameClaim }),
      allowHttp: oidc.allowHttpIssuer === true,
      now: at.now,
    }),
    sealer: new Sealer({ key: at.key, now: at.now }),
    publicUrl: oidc.publicUrl.replace(/\/+$/, ''),
    adminGroups: oidc.adminGroups ?? [],
  };
}

async function clientSecretOf(
  oidc: OidcServerOptions,
  at: { readonly cluster: KubeCluster; readonly secrets: ResourceType; readonly namespace: string },
): Promise<string> {
  if (oidc.clientSecretFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(oidc.clientSecretFile, 'utf8').trim();
    } catch (error) {
      throw new CapstanError(
        'OIDC_CONFIG_INVALID',
        `the OIDC client secret file ${oidc.clientSecretFile} cannot be read: ${messageOf(error)}`,
      );
    }
    if (text === '')
      throw new CapstanError(
        'OIDC_CONFIG_INVALID',
        `the OIDC client secret file ${oidc.clientSecretFile} is empty`,
      );
    return text;
  }
  if (oidc.clientSecretSecret === undefined)
    throw new CapstanError(
      'OIDC_CONFIG_INVALID',
      'OIDC needs its client secret: --oidc-client-secret-file PATH or --oidc-client-secret-secret NAME',
    );
  const secret = await at.cluster.get(at.secrets, at.namespace, oidc.clientSecretSecret);
  const subject = `Secret/${at.namespace}/${oidc.clientSecretSecret}`;
  const value = secretText(secret, OIDC_SECRET_KEY, subject)?.trim();
  if (value === undefined || value === '')
    throw new CapstanError(
      'OIDC_CONFIG_INVALID',
      `${subject} has no key '${OIDC_SECRET_KEY}' with the OIDC client secret`,
    );
  return value;
}
