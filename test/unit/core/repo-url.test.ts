import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { normalizeRepoUrl, sameRepo } from '../../../src/core/repo-url.ts';

describe('normalizeRepoUrl', () => {
  const cases: [input: string, expected: string][] = [
    // The four forms of one GitHub repository.
    ['https://github.com/Org/Repo.git', 'github.com/org/repo'],
    ['git@github.com:Org/Repo.git', 'github.com/org/repo'],
    ['ssh://git@github.com/Org/Repo', 'github.com/org/repo'],
    ['https://github.com/org/repo', 'github.com/org/repo'],
    // Host lower-cased; trailing `/`, `.git`, doubled slashes, query and fragment dropped.
    ['HTTPS://GitHub.COM/org/repo/', 'github.com/org/repo'],
    ['https://github.com/org/repo.git/', 'github.com/org/repo'],
    ['https://github.com//org//repo', 'github.com/org/repo'],
    ['https://github.com/org/repo?tab=readme#top', 'github.com/org/repo'],
    ['  https://github.com/org/repo  ', 'github.com/org/repo'],
    ['https://github.com./org/repo', 'github.com/org/repo'],
    // User info (a user name or a token) dropped, whatever the scheme.
    ['https://x-access-token:ghp_secret@github.com/org/repo.git', 'github.com/org/repo'],
    ['https://u:p@ss@host.example.com/x', 'host.example.com/x'], // user info to the last @
    ['https://oauth2@gitlab.com/group/sub/project.git', 'gitlab.com/group/sub/project'],
    ['ssh://deploy@git.example.com/team/config.git', 'git.example.com/team/config'],
    // Default ports dropped, others kept.
    ['https://git.example.com:443/team/config', 'git.example.com/team/config'],
    ['http://git.example.com:80/team/config', 'git.example.com/team/config'],
    ['ssh://git@git.example.com:22/team/config', 'git.example.com/team/config'],
    ['git://git.example.com:9418/team/config', 'git.example.com/team/config'],
    ['https://git.example.com:8443/team/config', 'git.example.com:8443/team/config'],
    ['ssh://git@gitea.local:2222/team/config.git', 'gitea.local:2222/team/config'],
    ['http://127.0.0.1:3000/team/config.git', '127.0.0.1:3000/team/config'],
    ['https://[::1]:8443/team/config', '[::1]:8443/team/config'],
    // Case kept in the path on other hosts, lower-cased on github.com, gitlab.com, bitbucket.org.
    ['https://git.example.com/Team/Config.git', 'git.example.com/Team/Config'],
    ['git@git.example.com:Team/Config.git', 'git.example.com/Team/Config'],
    ['git@GitLab.com:Group/Project.git', 'gitlab.com/group/project'],
    ['https://bitbucket.org/Team/Repo', 'bitbucket.org/team/repo'],
    ['git@bitbucket.org:Team/Repo.git', 'bitbucket.org/team/repo'],
    // scp-like with an absolute path, and without a user; ssh+git aliases.
    ['git.example.com:/srv/git/config.git', 'git.example.com/srv/git/config'],
    ['git+ssh://git@github.com/Org/Repo.git', 'github.com/org/repo'],
    ['ssh+git://git@github.com/Org/Repo.git', 'github.com/org/repo'],
    // ssh:// with an scp-like path (a common slip) still names the repository.
    ['ssh://git@github.com:Org/Repo.git', 'github.com/org/repo'],
    // A `.git` inside the path is kept; only the suffix goes.
    ['https://git.example.com/team/config.git.backup', 'git.example.com/team/config.git.backup'],
    ['https://git.example.com/team/repo.GIT', 'git.example.com/team/repo.GIT'],
    // Not a URL of a known form: unchanged (trimmed), so it equals only itself.
    ['/srv/git/config', '/srv/git/config'],
    ['file:///srv/git/config', 'file:///srv/git/config'],
    ['', ''],
    ['not a url', 'not a url'],
  ];
  for (const [input, expected] of cases) {
    it(`'${input}' → '${expected}'`, () => {
      assert.equal(normalizeRepoUrl(input), expected);
    });
  }

  it('lower-cases paths on the hosts it is given instead of the default ones', () => {
    const options = { caseInsensitiveHosts: ['git.corp.example'] };
    assert.equal(
      normalizeRepoUrl('https://git.corp.example/Team/Repo', options),
      'git.corp.example/team/repo',
    );
    assert.equal(normalizeRepoUrl('https://github.com/Org/Repo', options), 'github.com/Org/Repo');
  });
});

describe('sameRepo', () => {
  it('compares every form of one repository equal, and different repositories not', () => {
    const forms = [
      'https://github.com/Org/Repo.git',
      'git@github.com:Org/Repo.git',
      'ssh://git@github.com/Org/Repo',
      'https://github.com/org/repo',
    ];
    for (const a of forms) for (const b of forms) assert.ok(sameRepo(a, b), `${a} = ${b}`);
    assert.ok(!sameRepo('https://github.com/org/repo', 'https://github.com/org/repo2'));
    assert.ok(!sameRepo('https://github.com/org/repo', 'https://github.example.com/org/repo'));
    assert.ok(!sameRepo('https://git.example.com/Team/Config', 'https://git.example.com/team/config'));
    assert.ok(!sameRepo('https://git.example.com:8443/team/config', 'https://git.example.com/team/config'));
  });
});
