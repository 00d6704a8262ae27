// Property tests of the webhook payload parsers (src/api/webhook-payload.ts): any bytes give a value or
// a message that quotes none of the body; any JSON gives refresh events or a message for every
// provider, never an exception; events always name at least one repository URL, without credentials.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { WEBHOOK_PROVIDERS } from '../../../src/contracts/webhook-event.ts';
import { formPayload, parseJsonBounded, refreshEventsOf } from '../../../src/api/webhook-payload.ts';
import { MAX_PULL_REQUEST_NUMBER, pullRequestEventOf } from '../../../src/api/webhook-pull-request.ts';
import { fuzzParameters } from './runs.ts';

const SECRET = 'hunter2-in-the-body';

/** A push-like payload: the fields the extractors read, with values of any shape. */
const pushLike = fc.record(
  {
    ref: fc.oneof(fc.constant('refs/heads/main'), fc.jsonValue()),
    after: fc.oneof(fc.constant('a'.repeat(40)), fc.jsonValue()),
    before: fc.jsonValue(),
    repository: fc.oneof(
      fc.record(
        {
          clone_url: fc.oneof(
            fc.constant(`https://u:${SECRET}@git.example.com/o/r.git`),
            fc.webUrl(),
            fc.jsonValue(),
          ),
          ssh_url: fc.oneof(fc.constant('git@git.example.com:o/r.git'), fc.jsonValue()),
          git_http_url: fc.webUrl(),
          full_name: fc.string(),
          links: fc.jsonValue(),
        },
        { requiredKeys: [] },
      ),
      fc.jsonValue(),
    ),
    project: fc.jsonValue(),
    push: fc.jsonValue(),
    commits: fc.array(fc.jsonValue(), { maxLength: 30 }),
    total_commits_count: fc.jsonValue(),
    repoURL: fc.oneof(fc.webUrl(), fc.jsonValue()),
  },
  { requiredKeys: [] },
);

/** A pull-request-like payload (GitHub, Gitea, GitLab fields) with values of any shape, huge numbers among them. */
const anyNumber = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(0, -1, 2 ** 31, 2 ** 53, 1e300, Number.MAX_SAFE_INTEGER),
  fc.jsonValue(),
);
const sideLike = fc.record(
  {
    ref: fc.oneof(
      fc.constantFrom('main', '../x', '-x', 'a b'),
      fc.string({ maxLength: 300 }),
      fc.jsonValue(),
    ),
    sha: fc.oneof(
      fc.constant('a'.repeat(40)),
      fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF'.split('')), maxLength: 70 }),
      fc.jsonValue(),
    ),
    repo: fc.oneof(
      fc.record({ id: anyNumber, full_name: fc.jsonValue() }, { requiredKeys: [] }),
      fc.jsonValue(),
    ),
  },
  { requiredKeys: [] },
);
const pullRequestLike = fc.record(
  {
    action: fc.oneof(
      fc.constantFrom('opened', 'synchronize', 'synchronized', 'reopened', 'closed'),
      fc.jsonValue(),
    ),
    number: anyNumber,
    pull_request: fc.oneof(
      fc.record(
        { number: anyNumber, head: fc.oneof(sideLike, fc.jsonValue()), base: sideLike },
        { requiredKeys: [] },
      ),
      fc.jsonValue(),
    ),
    object_kind: fc.constantFrom('merge_request', 'push'),
    object_attributes: fc.record(
      {
        action: fc.oneof(fc.constantFrom('open', 'update', 'reopen', 'merge'), fc.jsonValue()),
        iid: anyNumber,
        oldrev: fc.jsonValue(),
        source_branch: fc.oneof(fc.constant('feature'), fc.jsonValue()),
        target_branch: fc.oneof(fc.constant('main'), fc.jsonValue()),
        source_project_id: anyNumber,
        target_project_id: anyNumber,
        last_commit: fc.oneof(
          fc.record({ id: fc.oneof(fc.constant('b'.repeat(40)), fc.jsonValue()) }),
          fc.jsonValue(),
        ),
      },
      { requiredKeys: [] },
    ),
    repository: fc.oneof(
      fc.record({ clone_url: fc.constant(`https://u:${SECRET}@git.example.com/o/r.git`) }),
      fc.jsonValue(),
    ),
    project: fc.oneof(fc.record({ git_http_url: fc.webUrl() }), fc.jsonValue()),
  },
  { requiredKeys: [] },
);

describe('webhook payload parsers (property tests)', () => {
  it('parseJsonBounded: any bytes give a value or a message, and the message quotes none of the body', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.string({ maxLength: 40 }), (bytes, text) => {
        for (const body of [Buffer.from(bytes), Buffer.from(`{"x": "${SECRET}"${text}`)]) {
          const parsed = parseJsonBounded(body);
          if (!parsed.ok) assert.doesNotMatch(parsed.message, new RegExp(SECRET));
        }
      }),
      fuzzParameters(500),
    );
  });

  it('parseJsonBounded: deep nesting is refused before JSON.parse, at any depth past the bound', () => {
    fc.assert(
      fc.property(fc.integer({ min: 65, max: 200_000 }), fc.constantFrom('[', '{"a":'), (depth, opener) => {
        const parsed = parseJsonBounded(Buffer.from(opener.repeat(depth)), 64);
        assert.deepEqual(parsed, { ok: false, message: 'the JSON body nests deeper than 64 levels' });
      }),
      fuzzParameters(50),
    );
  });

  it('refreshEventsOf: any JSON, any provider: events naming repositories without credentials, or a message', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...WEBHOOK_PROVIDERS),
        fc.oneof(pushLike, fc.jsonValue()),
        fc.option(fc.string({ maxLength: 40 }), { nil: undefined }),
        (provider, payload, deliveryId) => {
          const result = refreshEventsOf(provider, payload, deliveryId);
          if (!result.ok) {
            assert.equal(typeof result.message, 'string');
            assert.doesNotMatch(result.message, new RegExp(SECRET));
            return;
          }
          for (const event of result.events) {
            assert.equal(event.provider, provider);
            assert.ok(event.repoURLs.length > 0, 'an event names at least one repository');
            for (const url of event.repoURLs)
              assert.doesNotMatch(url, new RegExp(`${SECRET}|@git\\.example`));
          }
        },
      ),
      fuzzParameters(500),
    );
  });

  it('formPayload: any form body gives the payload field or nothing, never an exception', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200, unit: 'binary' }), (text) => {
        const payload = formPayload(Buffer.from(text));
        if (payload !== undefined) assert.ok(Buffer.isBuffer(payload));
      }),
      fuzzParameters(300),
    );
  });

  it('pullRequestEventOf: any JSON: a well-formed event, an ignored action, or a message that quotes nothing', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('github', 'gitlab', 'gitea'),
        fc.oneof(pullRequestLike, fc.jsonValue()),
        (provider, payload) => {
          const result = pullRequestEventOf(provider, payload, undefined);
          if (!result.ok) {
            assert.doesNotMatch(result.message, new RegExp(SECRET));
            return;
          }
          if ('ignored' in result) return;
          const { event } = result;
          assert.ok(
            Number.isSafeInteger(event.number) &&
              event.number >= 1 &&
              event.number <= MAX_PULL_REQUEST_NUMBER,
          );
          assert.match(event.headSha, /^[0-9a-f]{40}$/);
          assert.match(event.ref, /^refs\/(pull|merge-requests)\/[1-9][0-9]*\/head$/);
          for (const branch of [event.sourceBranch, event.targetBranch]) {
            assert.ok(
              typeof branch === 'string' && branch !== '' && branch.length <= 255 && !branch.startsWith('-'),
            );
            assert.doesNotMatch(branch, /\.\.|[\s~^:?*[\\]/);
          }
          assert.ok(event.repoURLs.length > 0);
          for (const url of event.repoURLs) assert.doesNotMatch(url, new RegExp(SECRET));
        },
      ),
      fuzzParameters(1000),
    );
  });
});
