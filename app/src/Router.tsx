import { useMedplumProfile } from '@medplum/react';
import type { JSX } from 'react';
import { Navigate, Route, Routes } from 'react-router';
import { ClinicianPage } from './pages/clinician/ClinicianPage.tsx';
import { HomePage } from './pages/home/HomePage.tsx';
import { LaunchPage } from './pages/launch/LaunchPage.tsx';
import { SignInPage } from './pages/signin/SignInPage.tsx';

/**
 * Every route. Signed-out users only reach sign-in and the SMART launch endpoint; signed-in users are routed by
 * profile type (Patient → owner home, anyone else → clinician view).
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

  const home =
    profile.resourceType === 'Patient' ? <HomePage patient={profile} /> : <ClinicianPage profile={profile} />;
  return (
    <Routes>
      <Route path="/" element={home} />
      <Route path="/launch" element={<LaunchPage />} />
      <Route path="*" element={<Navigate to="/" replace />} />
    </Routes>
  );
}
