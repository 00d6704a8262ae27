// Links from manifests, annotations and repository URLs: only http(s) becomes an href.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { repositoryHref, safeHref } from '../../../ui/src/safe-link.ts';

describe('safeHref', () => {
  const inert = [
    'javascript:alert(1)',
    'JavaScript:alert(1)',
    ' javascript:alert(1)',
    'java\tscript:alert(1)',
    'java\nscript:alert(1)',
    '\u0000javascript:alert(1)',
    'data:text/html,<script>alert(1)</script>',
    'vbscript:msgbox(1)',
    'file:///etc/passwd',
    '//evil.example/x',
    '/relative/path',
    'https:evil.example',
    'http://user:secret@host.example/',
    'git@github.com:org/repo.git',
    'ssh://git@host.example/repo.git',
    '',
    `https://host.example/${'a'.repeat(3000)}`,
  ];
  for (const text of inert)
    it(`keeps ${JSON.stringify(text.slice(0, 40))} as text`, () => {
      assert.equal(safeHref(text), undefined);
    });

  it('links http and https URLs, normalised by the URL parser', () => {
    assert.equal(safeHref('https://grafana.example/d/abc?var=1'), 'https://grafana.example/d/abc?var=1');
    assert.equal(safeHref('HTTP://Host.Example/'), 'http://host.example/');
  });

  it('links https repositories without .git, never ssh ones', () => {
    assert.equal(repositoryHref('https://git.example/team/config.git'), 'https://git.example/team/config');
    assert.equal(repositoryHref('git@git.example:team/config.git'), undefined);
  });
});
