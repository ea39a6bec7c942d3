import { useMedplumProfile } from '@medplum/react';
import type { JSX } from 'react';
import { Navigate, Route, Routes } from 'react-router';
import { ClinicianPage } from './pages/clinician/ClinicianPage.tsx';
import { ConnectCallbackPage } from './pages/connections/ConnectCallbackPage.tsx';
import { ConnectionsPage } from './pages/connections/ConnectionsPage.tsx';
import { DataPage } from './pages/data/DataPage.tsx';
import { HomePage } from './pages/home/HomePage.tsx';
import { LaunchPage } from './pages/launch/LaunchPage.tsx';
import { SignInPage } from './pages/signin/SignInPage.tsx';

/**
 * Every route. Signed-out users only reach sign-in and the SMART launch endpoint; signed-in users are routed by
 * profile type: a Patient gets home, Connections (with the provider OAuth callback) and Data; anyone else gets the
 * clinician view.
 * @returns The routes for the current session.
 */
export function AppRoutes(): JSX.Element {
  const profile = useMedplumProfile();

  if (!profile) {
    return (
      <Routes>
        <Route path="/signin" element={<SignInPage />} />
        <Route path="/launch" element={<LaunchPage />} />
        <Route path="*" element={<Navigate to="/signin" replace />} />
      </Routes>
    );
  }

  if (profile.resourceType === 'Patient') {
    return (
      <Routes>
        <Route path="/" element={<HomePage patient={profile} />} />
        <Route path="/connections" element={<ConnectionsPage />} />
        <Route path="/connect/:provider/callback" element={<ConnectCallbackPage />} />
        <Route path="/data" element={<DataPage patient={profile} />} />
        <Route path="/launch" element={<LaunchPage />} />
        <Route path="*" element={<Navigate to="/" replace />} />
      </Routes>
    );
  }
  return (
    <Routes>
      <Route path="/" element={<ClinicianPage profile={profile} />} />
      <Route path="/launch" element={<LaunchPage />} />
      <Route path="*" element={<Navigate to="/" replace />} />
    </Routes>
  );
}
