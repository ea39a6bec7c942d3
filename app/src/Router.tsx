import { useMedplum, useMedplumProfile } from '@medplum/react';
import type { JSX } from 'react';
import { Navigate, Route, Routes } from 'react-router';
import { AdminPage } from './pages/admin/AdminPage.tsx';
import { ClinicianPage } from './pages/clinician/ClinicianPage.tsx';
import { ConnectCallbackPage } from './pages/connections/ConnectCallbackPage.tsx';
import { ConnectionsPage } from './pages/connections/ConnectionsPage.tsx';
import { DataPage } from './pages/data/DataPage.tsx';
import { HomePage } from './pages/home/HomePage.tsx';
import { LaunchPage } from './pages/launch/LaunchPage.tsx';
import { NotFoundPage } from './pages/notfound/NotFoundPage.tsx';
import { SettingsPage } from './pages/settings/SettingsPage.tsx';
import { SharingPage } from './pages/sharing/SharingPage.tsx';
import { SignInPage } from './pages/signin/SignInPage.tsx';
import { TrendsPage } from './pages/trends/TrendsPage.tsx';

/** The owner's pages: signed out, these lead to sign-in (they exist, they just need a session). */
const PATIENT_PATHS = ['/', '/connections', '/data', '/trends', '/sharing', '/settings', '/connect/:provider/callback'];

/**
 * Every route. Signed-out users reach sign-in and the SMART launch endpoint, and the owner's pages send them to
 * sign-in; signed-in users are routed by who they are: a Patient gets home, Connections (with the provider OAuth
 * callback), Data, Trends and Settings; a project admin (ProjectMembership.admin, from /auth/me) gets the
 * administration page; anyone else gets the clinician view. An address with no page gets the not-found page, never a silent redirect.
 * @returns The routes for the current session.
 */
export function AppRoutes(): JSX.Element {
  const medplum = useMedplum();
  const profile = useMedplumProfile();

  if (!profile) {
    return (
      <Routes>
        <Route path="/signin" element={<SignInPage />} />
        <Route path="/launch" element={<LaunchPage />} />
        <Route path="/launch/callback" element={<LaunchPage />} />
        <Route path="/clinician" element={<LaunchPage />} />
        {PATIENT_PATHS.map((path) => (
          <Route key={path} path={path} element={<Navigate to="/signin" replace />} />
        ))}
        <Route path="*" element={<NotFoundPage signedIn={false} />} />
      </Routes>
    );
  }

  // Signed in, sign-in has nothing to offer (Back after signing in lands here).
  const common = [
    <Route key="signin" path="/signin" element={<Navigate to="/" replace />} />,
    <Route key="launch" path="/launch" element={<LaunchPage />} />,
    <Route key="launch-callback" path="/launch/callback" element={<LaunchPage />} />,
    <Route key="*" path="*" element={<NotFoundPage signedIn />} />,
  ];

  if (profile.resourceType === 'Patient') {
    return (
      <Routes>
        <Route path="/" element={<HomePage patient={profile} />} />
        <Route path="/connections" element={<ConnectionsPage />} />
        <Route path="/connect/:provider/callback" element={<ConnectCallbackPage />} />
        <Route path="/data" element={<DataPage patient={profile} />} />
        <Route path="/trends" element={<TrendsPage patient={profile} />} />
        <Route path="/sharing" element={<SharingPage />} />
        <Route path="/settings" element={<SettingsPage />} />
        {common}
      </Routes>
    );
  }
  if (medplum.isProjectAdmin()) {
    return (
      <Routes>
        <Route path="/" element={<AdminPage />} />
        {common}
      </Routes>
    );
  }
  return (
    <Routes>
      <Route path="/" element={<ClinicianPage profile={profile} />} />
      <Route path="/clinician" element={<ClinicianPage profile={profile} />} />
      {common}
    </Routes>
  );
}
