import { describe, expect, test } from 'vitest';
import { signOuraWebhook } from './webhooks.ts';

describe('signOuraWebhook', () => {
  test('matches a known answer computed with openssl (upper-case hex of HMAC-SHA256 over timestamp + body)', () => {
    // printf '%s' "$TS$BODY" | openssl dgst -sha256 -hmac client-secret
    const body =
      '{"event_type":"update","data_type":"sleep","object_id":"abc","event_time":"2025-01-01T00:00:00+00:00","user_id":"u1"}';
    expect(signOuraWebhook('client-secret', '1735689600', body)).toBe(
      '29704A493D16E40694FD00E89127EE9471FD263D953D41E63120A764834D301C'
    );
  });

  test('the timestamp is part of the message', () => {
    expect(signOuraWebhook('client-secret', '1735689601', '{}')).not.toBe(
      signOuraWebhook('client-secret', '1735689600', '{}')
    );
  });
});
