import { Alert, Anchor, Stack, Title } from '@mantine/core';
import { Loading, useMedplum } from '@medplum/react';
import { useEffect, useState } from 'react';
import type { JSX } from 'react';
import { useLocation, useNavigate } from 'react-router';
import { getConfig } from '../../config.ts';
import { clearLaunchContext, saveLaunchContext } from '../../lib/launch-context.ts';
import { completeSmartLaunch, startSmartLaunch, startStandaloneLaunch } from '../../lib/smart.ts';
import { medplumStorage } from '../../lib/storage.ts';

/** Where Medplum returns the code: the clinician-launch client's registered redirect URI, on this origin. */
export const LAUNCH_CALLBACK_PATH = '/launch/callback';

function redirectUri(): string {
  return new URL(LAUNCH_CALLBACK_PATH, window.location.origin).toString();
}

/**
 * The launch step of this page load, by URL. The page is mounted again while the code exchange runs (the app shows a
 * loader while MedplumClient loads the new profile, then the signed-in routes), and StrictMode runs effects twice;
 * the code is single-use, so a second mount joins the running step instead of starting another.
 */
let running: { readonly key: string; readonly result: Promise<string | undefined> } | undefined;

function once(key: string, step: () => Promise<string | undefined>): Promise<string | undefined> {
  if (running?.key !== key) {
    running = { key, result: step() };
  }
  return running.result;
}

/**
 * The clinician's way in, with deploy's `clinician-launch` ClientApplication (its launchUri is `/launch`, its
 * redirect URI `/launch/callback`):
 *
 * - `/launch?iss=&launch=` (EHR launch: the Medplum app opened the launchUri for one patient) → Medplum's authorize
 *   endpoint with `launch`;
 * - `/launch` with no parameters, or `/clinician` signed out (standalone launch) → authorize without `launch`;
 * - `/launch/callback?code=&state=` (or `?error=`) → exchange the code, then the clinician view: of the launch
 *   patient, or the list of owners who shared with them.
 * @returns The launch page (a spinner, or the reason the launch failed).
 */
export function LaunchPage(): JSX.Element {
  const medplum = useMedplum();
  const navigate = useNavigate();
  // The URL this route matched, not window.location: a navigation may already have replaced that when effects run.
  const { pathname, search } = useLocation();
  const [error, setError] = useState<string>();

  useEffect(() => {
    const { baseUrl, clinicianClientId } = getConfig();
    const params = new URLSearchParams(search);

    /** @returns Where to go in the app, or undefined when the browser is leaving for the authorize page. */
    const run = async (): Promise<string | undefined> => {
      if (!clinicianClientId) {
        throw new Error(
          'SMART launch needs the clinician-launch ClientApplication id (clinicianClientId in /config.js, or MEDPLUM_CLINICIAN_CLIENT_ID at build time)'
        );
      }
      if (params.has('code') || params.has('error')) {
        const context = await completeSmartLaunch({
          medplum,
          clientId: clinicianClientId,
          redirectUri: redirectUri(),
          search,
          pendingStore: sessionStorage,
          pkceSource: medplumStorage,
        });
        saveLaunchContext(context);
        return context.patient ? `/?patient=${encodeURIComponent(context.patient)}` : '/';
      }
      if (params.has('iss') || params.has('launch')) {
        const url = await startSmartLaunch({
          medplum,
          medplumBaseUrl: baseUrl,
          clientId: clinicianClientId,
          redirectUri: redirectUri(),
          search,
          pendingStore: sessionStorage,
        });
        window.location.assign(url);
        return undefined;
      }
      if (pathname === LAUNCH_CALLBACK_PATH) {
        throw new Error('The launch callback has neither a code nor an error; start the launch again from your EHR');
      }
      // A standalone launch has no patient: an EHR context left from an earlier launch in this tab must not stick.
      clearLaunchContext();
      window.location.assign(
        await startStandaloneLaunch({
          medplum,
          medplumBaseUrl: baseUrl,
          clientId: clinicianClientId,
          redirectUri: redirectUri(),
          pendingStore: sessionStorage,
        })
      );
      return undefined;
    };

    let active = true;
    once(pathname + search, run)
      .then((destination) => {
        if (destination) {
          return navigate(destination, { replace: true });
        }
        return undefined;
      })
      .catch((err: unknown) => {
        if (active) {
          setError(err instanceof Error ? err.message : String(err));
        }
      });
    return () => {
      active = false;
    };
  }, [medplum, navigate, pathname, search]);

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
