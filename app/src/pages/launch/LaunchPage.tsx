import { Alert, Anchor, Stack, Title } from '@mantine/core';
import { Loading, useMedplum } from '@medplum/react';
import { useEffect, useRef, useState } from 'react';
import type { JSX } from 'react';
import { useNavigate } from 'react-router';
import { getConfig } from '../../config.ts';
import { saveLaunchContext } from '../../lib/launch-context.ts';
import { completeSmartLaunch, startSmartLaunch } from '../../lib/smart.ts';
import { medplumStorage } from '../../lib/storage.ts';

/** The redirect URI registered on the ClientApplication: this page, on this origin. */
function redirectUri(): string {
  return new URL('/launch', window.location.origin).toString();
}

/**
 * SMART EHR launch endpoint (ClientApplication.launchUri and redirect URI). Early version: it performs the launch and
 * keeps the patient context, but the clinician view does not yet show launched patient data.
 *
 * - `?iss=&launch=` → redirect to Medplum's authorize endpoint;
 * - `?code=&state=` (or `?error=`) → exchange the code, then go home.
 * @returns The launch page (a spinner, or the reason the launch failed).
 */
export function LaunchPage(): JSX.Element {
  const medplum = useMedplum();
  const navigate = useNavigate();
  const [error, setError] = useState<string>();
  // StrictMode runs effects twice in development; the exchange must happen once (the code is single-use).
  const started = useRef(false);

  useEffect(() => {
    if (started.current) {
      return;
    }
    started.current = true;
    const { baseUrl, clientId } = getConfig();
    const search = window.location.search;
    const params = new URLSearchParams(search);

    const run = async (): Promise<void> => {
      if (!clientId) {
        throw new Error('SMART launch needs MEDPLUM_CLIENT_ID (the patient app ClientApplication id) to be configured');
      }
      if (params.has('code') || params.has('error')) {
        const context = await completeSmartLaunch({
          medplum,
          clientId,
          redirectUri: redirectUri(),
          search,
          pendingStore: sessionStorage,
          pkceSource: medplumStorage,
        });
        saveLaunchContext(context);
        await navigate('/', { replace: true });
        return;
      }
      const url = await startSmartLaunch({
        medplum,
        medplumBaseUrl: baseUrl,
        clientId,
        redirectUri: redirectUri(),
        search,
        pendingStore: sessionStorage,
      });
      window.location.assign(url);
    };

    run().catch((err: unknown) => setError(err instanceof Error ? err.message : String(err)));
  }, [medplum, navigate]);

  if (!error) {
    return <Loading />;
  }
  return (
    <Stack maw={560} mx="auto" mt="xl">
      <Title order={2}>Launch failed</Title>
      <Alert color="red" title="The app could not be launched from your EHR" data-testid="launch-error">
        {error}
      </Alert>
      <Anchor href="/signin">Sign in directly instead</Anchor>
    </Stack>
  );
}
