/**
 * Single sign-on sessions that the provider keeps vouching for. A login that brought a refresh token
 * (the provider offered `offline_access`) keeps it in its session, sealed under the key the replicas
 * share and bound to that session. When a request comes after the session's refresh time (a quarter
 * of the ID token's life before it expires, at most a minute), the refresh-token grant runs, once per
 * session at a time: claimed in the Store first (its refresh time moved on, the session marked as
 * refreshing), so the refresh token is presented once (a provider that rotates tokens may take a second
 * use as theft and revoke the grant), and the session's other requests, on this replica or another,
 * wait for its groups rather than go on with those it may take away. The session takes the new ID token's groups (and the rotated
 * refresh token, when the provider rotates it). When the provider refuses the grant (the user or the
 * grant was revoked), the session ends at once: SSO_SESSION_REVOKED. Logout revokes the token at the
 * provider, when it offers revocation. No token is ever logged or audited.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { CapstanError, messageOf } from '../core/errors.ts';
import type { Logger, LogLevel } from '../ports/logger.ts';
import type { SignOnGrant, SignedOn, SingleSignOn } from '../ports/single-sign-on.ts';
import type { SessionRecord, SessionRefresh, SessionSignOn, Store } from '../ports/store.ts';
import type { Sealer } from './sealed.ts';

/** Refresh this long before the ID token expires at most (less for a short-lived token: a quarter of its life). */
export const REFRESH_MARGIN_MS = 60_000;
/**
 * A refresh claimed in the Store holds for this long: other requests and replicas go on with the
 * session meanwhile, and one that fails while the ID token is still valid is tried again after it.
 */
export const REFRESH_CLAIM_MS = 30_000;
/** While another replica refreshes a session, its requests here read the Store this often for the result. */
export const REFRESH_POLL_MS = 100;

export interface SignOnSessionsOptions {
  readonly signOn: SingleSignOn;
  readonly sealer: Sealer;
  readonly store: Store;
  readonly now: () => number;
  /** Members of these groups are global admins (read again at every refresh). */
  readonly adminGroups: readonly string[];
  readonly logger?: Logger;
  /** How often a refresh claimed elsewhere is looked for in the Store. Default REFRESH_POLL_MS. */
  readonly pollMs?: number;
}

const purposeOf = (digest: string) => `oidc-refresh:${digest}`;

export class SignOnSessions {
  readonly #options: SignOnSessionsOptions;
  readonly #refreshing = new Map<string, Promise<SessionRecord>>();

  constructor(options: SignOnSessionsOptions) {
    this.#options = options;
  }

  /** What a new session keeps of its login's grant; undefined when the provider gave no refresh token. */
  stateFor(
    digest: string,
    subject: string,
    grant: SignOnGrant,
    sessionExpiresAt: string,
  ): SessionSignOn | undefined {
    if (grant.refreshToken === undefined) return undefined;
    const now = this.#options.now();
    const lifetime = Math.max(0, grant.idTokenLifetimeMs);
    const margin = Math.min(REFRESH_MARGIN_MS, lifetime / 4);
    const sealFor = Math.max(1, Date.parse(sessionExpiresAt) - now);
    return {
      refreshToken: this.#options.sealer.seal(purposeOf(digest), grant.refreshToken, sealFor),
      subject,
      refreshAfter: new Date(now + lifetime - margin).toISOString(),
      idTokenExpiresAt: new Date(now + lifetime).toISOString(),
    };
  }

  /**
   * The session as it stands: refreshed first when its time has come. Throws SSO_SESSION_REVOKED
   * (the session deleted) when the provider refuses; OIDC_PROVIDER_UNAVAILABLE when the provider
   * cannot be reached and the ID token has expired (before then, the session goes on unrefreshed).
   */
  current(record: SessionRecord): Promise<SessionRecord> {
    // A refresh running in this process is waited for (its claim already moved the refresh time on).
    let running = this.#refreshing.get(record.digest);
    if (running !== undefined) return running;
    const signOn = record.signOn;
    if (signOn === undefined) return Promise.resolve(record);
    const now = this.#options.now();
    // A refresh another replica (or an earlier request here) runs: its groups are waited for, not the
    // old ones used meanwhile (a user taken out of a group would keep its roles for that while).
    if (signOn.refreshingUntil !== undefined && Date.parse(signOn.refreshingUntil) > now)
      running = this.#awaitRefresh(record, signOn.refreshingUntil);
    else if (Date.parse(signOn.refreshAfter) > now) return Promise.resolve(record);
    else running = this.#refresh(record, signOn);
    running = running.finally(() => this.#refreshing.delete(record.digest));
    this.#refreshing.set(record.digest, running);
    return running;
  }

  /**
   * Waits for a refresh claimed elsewhere until `claimedUntil`: the session as that refresh left it
   * (its new groups), or as the claim's release left it; ended meanwhile, SSO_SESSION_REVOKED. The
   * Store is read every `pollMs`; a claim that outlives its time (its replica stopped) is taken over.
   */
  async #awaitRefresh(record: SessionRecord, claimedUntil: string): Promise<SessionRecord> {
    this.#log('debug', 'sso session refresh running elsewhere: waiting for it', record, {});
    for (;;) {
      await delay(this.#options.pollMs ?? REFRESH_POLL_MS);
      const now = await this.#options.store.sessions.get(record.digest);
      if (now === undefined)
        throw new CapstanError('SSO_SESSION_REVOKED', 'the session ended meanwhile: log in again');
      const marked = now.signOn?.refreshingUntil;
      if (marked !== claimedUntil || Date.parse(claimedUntil) <= this.#options.now()) {
        if (now.signOn === undefined || Date.parse(now.signOn.refreshAfter) > this.#options.now()) return now;
        // Released with its refresh still due, or the claim ran out: this request refreshes it.
        return this.#refresh(now, now.signOn);
      }
    }
  }
  /** Revokes an ended session's refresh token at the provider; a failure is logged, never thrown. */
  async revoke(record: SessionRecord): Promise<void> {
    if (record.signOn === undefined) return;
    const token = this.#options.sealer.unseal<string>(purposeOf(record.digest), record.signOn.refreshToken);
    if (!token.ok) return;
    try {
      const revoked = await this.#options.signOn.revoke(token.value);
      this.#log('info', 'sso refresh token revoked at logout', record, { revoked });
    } catch (error) {
      this.#log('warn', 'sso refresh token not revoked at logout', record, { error: messageOf(error) });
    }
  }

  async #refresh(record: SessionRecord, signOn: SessionSignOn): Promise<SessionRecord> {
    const { store, now } = this.#options;
    const until = new Date(now() + REFRESH_CLAIM_MS).toISOString();
    if (!(await store.sessions.claimRefresh(record.digest, signOn.refreshAfter, until))) {
      // Claimed by another request or replica first: wait for its refresh (or take the session as it is).
      const current = await store.sessions.get(record.digest);
      if (current === undefined)
        throw new CapstanError('SSO_SESSION_REVOKED', 'the session ended meanwhile: log in again');
      const marked = current.signOn?.refreshingUntil;
      if (marked === undefined || Date.parse(marked) <= now()) return current;
      return this.#awaitRefresh(current, marked);
    }
    const claimed: SessionSignOn = { ...signOn, refreshAfter: until, refreshingUntil: until };
    try {
      return await this.#redeem(record, claimed);
    } catch (error) {
      // The provider out of reach and the ID token expired: the claim is let go, so every request
      // tries again (and is refused until the provider answers) rather than one each 30 s.
      if (error instanceof CapstanError && error.code === 'OIDC_PROVIDER_UNAVAILABLE')
        await store.sessions.releaseRefresh(record.digest, until, signOn.refreshAfter).catch(() => false);
      throw error;
    }
  }

  async #redeem(record: SessionRecord, signOn: SessionSignOn): Promise<SessionRecord> {
    const token = this.#options.sealer.unseal<string>(purposeOf(record.digest), signOn.refreshToken);
    if (!token.ok)
      return this.#end(
        record,
        new CapstanError(
          'SSO_SESSION_REVOKED',
          'the single sign-on session cannot be refreshed (its refresh token is no longer readable): log in again',
        ),
      );
    let signedOn: SignedOn;
    try {
      signedOn = await this.#options.signOn.refresh(token.value, signOn.subject);
    } catch (error) {
      return this.#failed(record, signOn, error);
    }
    const groups = signedOn.grant.groupsRead ? signedOn.identity.groups : record.groups;
    const change: SessionRefresh = {
      groups,
      admin: groups.some((g) => this.#options.adminGroups.includes(g)),
      signOn:
        this.stateFor(record.digest, signOn.subject, signedOn.grant, record.expiresAt) ??
        // The provider always answers with the refresh token kept (the adapter passes it on).
        unmarked(signOn),
    };
    if (!(await this.#options.store.sessions.refreshed(record.digest, signOn.refreshToken, change))) {
      // Another replica refreshed it first, or the session ended meanwhile.
      const now = await this.#options.store.sessions.get(record.digest);
      if (now === undefined)
        throw new CapstanError('SSO_SESSION_REVOKED', 'the session ended meanwhile: log in again');
      return now;
    }
    this.#log('info', 'sso session refreshed', record, { groups: change.groups.join(',') });
    return { ...record, groups: [...change.groups], admin: change.admin, signOn: change.signOn };
  }

  async #failed(record: SessionRecord, signOn: SessionSignOn, error: unknown): Promise<SessionRecord> {
    if (error instanceof CapstanError && error.code === 'SSO_SESSION_REVOKED') {
      // A rotated token another replica redeemed first is refused here: that replica's refresh stands.
      const now = await this.#options.store.sessions.get(record.digest);
      if (now?.signOn !== undefined && now.signOn.refreshToken !== signOn.refreshToken) return now;
      return this.#end(record, error);
    }
    if (Date.parse(signOn.idTokenExpiresAt) > this.#options.now()) {
      this.#log('warn', 'sso session not refreshed: tried again in 30 s', record, {
        error: messageOf(error),
      });
      // Tried again when the claim ends; meanwhile no one waits for it (the provider said nothing new).
      const claimed = signOn.refreshingUntil ?? signOn.refreshAfter;
      await this.#options.store.sessions.releaseRefresh(record.digest, claimed, claimed).catch(() => false);
      return record;
    }
    throw error;
  }

  async #end(record: SessionRecord, reason: CapstanError): Promise<never> {
    await this.#options.store.sessions.delete(record.digest);
    this.#log('info', 'sso session ended by the provider', record, { reason: reason.message });
    try {
      await this.#options.store.audit.append({
        time: new Date(this.#options.now()).toISOString(),
        actor: { kind: 'user', name: record.user },
        action: 'logout',
        target: `User/${record.user}`,
        result: 'success',
        reason: reason.message,
        changes: { method: 'oidc', endedBy: 'provider' },
      });
    } catch (error) {
      this.#log('error', 'audit entry not written', record, { error: messageOf(error) });
    }
    throw reason;
  }

  #log(level: LogLevel, msg: string, record: SessionRecord, extra: Record<string, unknown>): void {
    this.#options.logger?.({ level, msg, user: record.user, ...extra });
  }
}

/** The sign-on state without a refresh's mark (what a recorded refresh leaves). */
function unmarked(signOn: SessionSignOn): SessionSignOn {
  const { refreshingUntil: _running, ...rest } = signOn;
  return rest;
}
