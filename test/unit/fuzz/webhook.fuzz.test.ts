// Property tests of the webhook payload parsers (src/api/webhook-payload.ts): any bytes give a value or
// a message that quotes none of the body; any JSON gives refresh events or a message for every
// provider, never an exception; events always name at least one repository URL, without credentials.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { WEBHOOK_PROVIDERS } from '../../../src/api/webhook-event.ts';
import { formPayload, parseJsonBounded, refreshEventsOf } from '../../../src/api/webhook-payload.ts';
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
});
