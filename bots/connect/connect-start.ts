/**
 * Bot `connect-start` (owner, `$execute`): begins connecting a wearable. Mints a single-use OAuth state (only its
 * hash is stored, bound to the calling patient, valid 10 minutes) and returns the provider's consent URL. The
 * provider redirects the browser to the app's callback route, which calls `connect-callback` with the code. The
 * redirect URI must be one the deployment allows (redirect.ts).
 */
import type { BotEvent, MedplumClient } from '@medplum/core';
import { z } from 'zod';
import { oauthProviderFor, ProviderKeySchema } from '../providers.ts';
import { buildStateRecord, mintState } from '../shared/oauth-state.ts';
import { requesterPatient } from '../shared/requester.ts';
import { checkRedirectUri } from './redirect.ts';

export const ConnectStartInput = z.object({
  provider: ProviderKeySchema,
  redirectUri: z.url({ protocol: /^https?$/ }),
});

export interface ConnectStartResult {
  authorizeUrl: string;
}

export async function handler(medplum: MedplumClient, event: BotEvent<unknown>): Promise<ConnectStartResult> {
  const patient = requesterPatient(event);
  const input = ConnectStartInput.parse(event.input);
  checkRedirectUri(event.secrets, input.provider, input.redirectUri);
  const provider = oauthProviderFor(input.provider, event.secrets);
  const { state, hash } = mintState();
  await medplum.createResource(buildStateRecord({ hash, patient, provider: input.provider, now: new Date() }));
  return {
    authorizeUrl: provider.authorizeUrl({ clientId: provider.clientId, redirectUri: input.redirectUri, state }),
  };
}
