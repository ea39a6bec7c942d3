import { AppShell, Button, Group, Text, Title } from '@mantine/core';
import { formatHumanName } from '@medplum/core';
import { ErrorBoundary, Loading, useMedplumContext } from '@medplum/react';
import { Suspense } from 'react';
import type { JSX } from 'react';
import { Link, useMatch } from 'react-router';
import { useSignOut } from './hooks/useSignOut.ts';
import { AppRoutes } from './Router.tsx';

/**
 * Shell: a header with the product name, the owner's navigation and, when signed in, who is signed in and a
 * sign-out button.
 * @returns The app.
 */
export function App(): JSX.Element {
  const { medplum, profile, loading } = useMedplumContext();
  const { signOut, signingOut } = useSignOut();

  // MedplumClient restores a stored session asynchronously (GET auth/me); routing before that would flash sign-in.
  if (loading || medplum.isLoading()) {
    return <Loading />;
  }

  const name = profile?.name?.[0];

  return (
    <AppShell header={{ height: 60 }} padding="md">
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between">
          <Group gap="lg">
            <Title order={3} c="teal.8">
              Baseline
            </Title>
            {profile?.resourceType === 'Patient' && (
              <Group component="nav" aria-label="Main" gap={4}>
                <NavItem to="/" label="Home" />
                <NavItem to="/connections" label="Connections" />
                <NavItem to="/data" label="Data" />
              </Group>
            )}
          </Group>
          {profile && (
            <Group gap="sm">
              <Text size="sm" c="dimmed" data-testid="signed-in-as">
                {name ? formatHumanName(name) : profile.resourceType}
              </Text>
              <Button variant="default" size="xs" onClick={() => void signOut()} loading={signingOut}>
                Sign out
              </Button>
            </Group>
          )}
        </Group>
      </AppShell.Header>
      <AppShell.Main>
        <ErrorBoundary>
          <Suspense fallback={<Loading />}>
            <AppRoutes />
          </Suspense>
        </ErrorBoundary>
      </AppShell.Main>
    </AppShell>
  );
}

function NavItem(props: { readonly to: string; readonly label: string }): JSX.Element {
  // Home is active only on `/` itself; the others also on their sub-paths.
  const active = useMatch({ path: props.to, end: props.to === '/' }) !== null;
  return (
    <Button
      component={Link}
      to={props.to}
      variant={active ? 'light' : 'subtle'}
      size="xs"
      aria-current={active ? 'page' : undefined}
    >
      {props.label}
    </Button>
  );
}
