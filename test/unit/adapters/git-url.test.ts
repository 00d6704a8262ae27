import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { CapstanError } from '../../../src/core/errors.ts';
import { parseRepoUrl, redactText, redactUrl } from '../../../src/adapters/git/url.ts';

function refused(raw: string, pattern: RegExp, options: { allowInsecureHttp?: boolean } = {}): void {
  assert.throws(
    () => parseRepoUrl(raw, options),
    (error: unknown) => {
      assert.ok(error instanceof CapstanError);
      assert.equal(error.code, 'SOURCE_BAD_URL');
      assert.match(error.message, pattern);
      return true;
    },
  );
}

describe('parseRepoUrl', () => {
  it('accepts https, ssh:// and scp-like URLs, and http only where allowed', () => {
    assert.equal(parseRepoUrl('https://github.com/org/repo.git').protocol, 'https');
    assert.equal(parseRepoUrl('ssh://git@github.com:2222/org/repo.git').protocol, 'ssh');
    assert.equal(parseRepoUrl('git@github.com:org/repo.git').protocol, 'ssh');
    assert.equal(parseRepoUrl('http://127.0.0.1:8080/a.git', { allowInsecureHttp: true }).protocol, 'http');
    refused('http://127.0.0.1:8080/a.git', /plain http.*allowInsecureHttp/);
  });

  it('keeps the URL given to git unchanged', () => {
    assert.equal(parseRepoUrl('https://GitHub.com/Org/Repo.git/').url, 'https://GitHub.com/Org/Repo.git/');
  });

  it('normalises: one cache per repository, whatever the spelling', () => {
    const same = [
      'https://github.com/org/repo',
      'https://github.com/org/repo.git',
      'https://GitHub.com/org/repo.git/',
      'HTTPS://github.com:443/org/repo',
      // Repeated slashes are one (the rule of core/repo-url.ts, which webhooks match with; this adapter
      // kept them, so one repository had two caches and a webhook matched a URL the cache did not).
      'https://github.com//org//repo.git/',
    ].map((raw) => parseRepoUrl(raw));
    for (const repo of same) {
      assert.equal(repo.normalised, 'https://github.com/org/repo');
      assert.equal(repo.cacheKey, createHash('sha256').update('https://github.com/org/repo').digest('hex'));
    }
    assert.equal(parseRepoUrl('git@GitHub.com:org/repo.git').normalised, 'ssh://git@github.com/org/repo');
    assert.equal(
      parseRepoUrl('ssh://git@github.com/org/repo.git').normalised,
      'ssh://git@github.com/org/repo',
    );
    assert.equal(parseRepoUrl('ssh://git@host:2222/x/').normalised, 'ssh://git@host:2222/x');
    assert.equal(parseRepoUrl('git@host:org//repo.git').normalised, 'ssh://git@host/org/repo');
    assert.notEqual(parseRepoUrl('https://github.com/org/Repo').cacheKey, same[0]?.cacheKey);
  });

  it("refuses a URL beginning with '-' (git would read an option)", () => {
    refused('-uhttps://x/y', /begins with '-'/);
    refused('--upload-pack=touch /tmp/x', /begins with '-'/);
  });

  it('refuses file://, ext:: and other transports, and local paths', () => {
    refused('file:///etc/repo.git', /file:\/\/ scheme, which is refused/);
    refused('ext::sh -c touch% /tmp/pwned', /white space|transport/);
    refused('ext::ssh', /<transport>::<address>.*refused/);
    refused('fd::3', /<transport>::<address>/);
    refused('git://github.com/org/repo', /git:\/\/ scheme/);
    refused('ftp://host/repo', /ftp:\/\/ scheme/);
    refused('/srv/git/repo.git', /local paths are refused/);
    refused('./repo', /local paths are refused/);
    refused('../repo:x', /local paths are refused/);
  });

  it('refuses credentials in the URL, and host or user names that begin with -', () => {
    refused('https://user:secret@github.com/org/repo', /contains a password/);
    refused('https://ghp_token@github.com/org/repo', /user name or token/);
    refused('ssh://git:secret@host/repo', /contains a password/);
    refused('ssh://-oProxyCommand=x@host/repo', /user name beginning with '-'/);
    refused('-oProxyCommand=x:repo', /begins with '-'/);
    refused('git@-oProxyCommand=x:repo', /valid host name/);
    refused('git@host:-repo', /path beginning with '-'/);
  });

  it('refuses empty, white space, control characters and over-long URLs', () => {
    refused('', /is empty/);
    refused('https://host/a b', /white space/);
    refused('https://host/a\nb', /white space|control/);
    refused(`https://host/${'a'.repeat(3000)}`, /longer than/);
    refused('https://', /cannot be parsed|host/);
    refused('https://host/', /no repository path/);
  });

  it('never shows the password in its error messages', () => {
    try {
      parseRepoUrl('https://alice:hunter2@github.com/org/repo');
      assert.fail('should throw');
    } catch (error) {
      assert.ok(error instanceof CapstanError);
      assert.doesNotMatch(error.message, /hunter2|alice/);
      assert.equal(error.subject, 'https://github.com/org/repo');
    }
  });
});

describe('redaction', () => {
  it('removes user info of http(s) URLs and passwords of other schemes', () => {
    assert.equal(redactUrl('https://alice:hunter2@github.com/org/repo'), 'https://github.com/org/repo');
    assert.equal(redactUrl('https://ghp_token@github.com/org/repo'), 'https://github.com/org/repo');
    assert.equal(redactUrl('ssh://git:pw@host/repo'), 'ssh://host/repo');
    assert.equal(redactUrl('ssh://git@host/repo'), 'ssh://git@host/repo');
    assert.equal(redactUrl('git:pw@host:repo'), 'git@host:repo');
    assert.equal(redactUrl('git@host:repo'), 'git@host:repo');
  });

  it('removes credentials from every URL in a text', () => {
    assert.equal(
      redactText("fatal: unable to access 'https://bob:s3cret@example.com/x.git/': 401; see http://u:p@h/y"),
      "fatal: unable to access 'https://example.com/x.git/': 401; see http://h/y",
    );
    assert.equal(redactText('no urls here'), 'no urls here');
  });
});
