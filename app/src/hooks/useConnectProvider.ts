import { showNotification } from '@mantine/notifications';
import { normalizeErrorString } from '@medplum/core';
import { useMedplum } from '@medplum/react';
import { useCallback, useState } from 'react';
import { executeOwnerBot } from '../lib/bots.ts';
import { connectRedirectUri } from '../lib/connect-callback.ts';
import { ConnectStartResponseSchema } from '../lib/connections.ts';
import type { ProviderInfo } from '../lib/providers.ts';
import { describeConnectFailure } from '../lib/human-errors.ts';

/**
 * Starts a provider's OAuth consent: connect-start stores a hashed, single-use `state` and returns the provider's
 * authorize URL, and the whole window goes there. The provider sends the user back to `/connect/<key>/callback`.
 * @returns `connect(provider)` and the key of the provider being connected (until the page unloads).
 */
export function useConnectProvider(): {
  connect: (provider: ProviderInfo) => Promise<void>;
  connecting: string | undefined;
} {
  const medplum = useMedplum();
  const [connecting, setConnecting] = useState<string>();

  const connect = useCallback(
    async (provider: ProviderInfo): Promise<void> => {
      setConnecting(provider.key);
      try {
        const { authorizeUrl } = await executeOwnerBot(
          medplum,
          'connect-start',
          { provider: provider.key, redirectUri: connectRedirectUri(window.location.origin, provider.key) },
          ConnectStartResponseSchema
        );
        // `connecting` stays set: the page is about to unload, and the button should not invite a second click.
        window.location.assign(authorizeUrl);
      } catch (err) {
        setConnecting(undefined);
        const human = describeConnectFailure(provider.name, normalizeErrorString(err));
        showNotification({
          color: 'red',
          title: human.title,
          message: `${human.what} ${human.next}${human.detail ? ` (Details: ${human.detail})` : ''}`,
          autoClose: false,
        });
      }
    },
    [medplum]
  );

  return { connect, connecting };
}
