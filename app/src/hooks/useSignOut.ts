import { useMedplum } from '@medplum/react';
import { useCallback, useState } from 'react';
import { useNavigate } from 'react-router';
import { clearDataCache } from '../lib/data-cache.ts';
import { showErrorNotification } from '../utils/notifications.ts';

/**
 * Signs out on the server (revokes the login) and locally, then returns to sign-in.
 * @returns `signOut` and whether it is in progress.
 */
export function useSignOut(): { signOut: () => Promise<void>; signingOut: boolean } {
  const medplum = useMedplum();
  const navigate = useNavigate();
  const [signingOut, setSigningOut] = useState(false);

  const signOut = useCallback(async (): Promise<void> => {
    setSigningOut(true);
    // The Data page's cache holds this person's values; the next person on this browser must not see them.
    clearDataCache();
    try {
      await medplum.signOut();
    } catch (err) {
      // The server could not revoke the login (offline, already expired). Still drop the local tokens so this
      // browser is signed out, and say that the server-side session may outlive it until it expires.
      medplum.clear();
      showErrorNotification(err, 'Signed out on this device, but the server did not confirm');
    } finally {
      setSigningOut(false);
    }
    await navigate('/signin', { replace: true });
  }, [medplum, navigate]);

  return { signOut, signingOut };
}
