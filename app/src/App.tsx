import { AppShell, Burger, Button, Divider, Group, Stack, Text, Title } from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import { formatHumanName } from '@medplum/core';
import { ErrorBoundary, Loading, useMedplumContext } from '@medplum/react';
import { Suspense, useEffect } from 'react';
import type { JSX } from 'react';
import { Link, useLocation, useMatch } from 'react-router';
import { useSignOut } from './hooks/useSignOut.ts';
import { AppRoutes } from './Router.tsx';

const HEADER_HEIGHT = 56;

/** The owner's pages, in menu order. */
const PATIENT_NAV = [
  { to: '/', label: 'Home' },
  { to: '/connections', label: 'Connections' },
  { to: '/data', label: 'Data' },
  { to: '/trends', label: 'Trends' },
  { to: '/sharing', label: 'Sharing' },
  { to: '/settings', label: 'Settings' },
] as const;

/**
 * Shell: a header with the product name, the owner's navigation and, when signed in, who is signed in and a
 * sign-out button. Below Mantine's `sm` breakpoint the navigation, name and sign-out move into a menu behind a
 * burger, so the header stays one row on a phone instead of wrapping over the page.
 * @returns The app.
 */
export function App(): JSX.Element {
  const { medplum, profile, loading } = useMedplumContext();
  const { signOut, signingOut } = useSignOut();
  const [menuOpen, { toggle: toggleMenu, close: closeMenu }] = useDisclosure(false);
  const { pathname } = useLocation();

  // Following a link in the phone menu should show the page, not leave the menu over it.
  useEffect(() => closeMenu(), [pathname, closeMenu]);

  // MedplumClient restores a stored session asynchronously (GET auth/me); routing before that would flash sign-in.
  if (loading || medplum.isLoading()) {
    return <Loading />;
  }

  const name = profile?.name?.[0];
  const displayName = name ? formatHumanName(name) : profile?.resourceType;
  const nav = profile?.resourceType === 'Patient' ? PATIENT_NAV : [];

  return (
    <AppShell
      header={{ height: HEADER_HEIGHT }}
      navbar={profile ? { width: 280, breakpoint: 'sm', collapsed: { mobile: !menuOpen, desktop: true } } : undefined}
      padding="md"
    >
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between" wrap="nowrap">
          <Group gap="lg" wrap="nowrap">
            <Title order={3} c="teal.8">
              Baseline
            </Title>
            {nav.length > 0 && (
              <Group component="nav" aria-label="Main" gap={4} wrap="nowrap" visibleFrom="sm">
                {nav.map((item) => (
                  <NavItem key={item.to} to={item.to} label={item.label} />
                ))}
              </Group>
            )}
          </Group>
          {profile && (
            <>
              <Group gap="sm" wrap="nowrap" visibleFrom="sm" miw={0}>
                <Text size="sm" c="dimmed" truncate="end" maw={240} data-testid="signed-in-as">
                  {displayName}
                </Text>
                <Button variant="default" size="xs" onClick={() => void signOut()} loading={signingOut}>
                  Sign out
                </Button>
              </Group>
              <Burger
                opened={menuOpen}
                onClick={toggleMenu}
                hiddenFrom="sm"
                size="sm"
                aria-label={menuOpen ? 'Close menu' : 'Open menu'}
                aria-expanded={menuOpen}
                aria-controls="app-menu"
              />
            </>
          )}
        </Group>
      </AppShell.Header>
      {profile && (
        <AppShell.Navbar
          p="md"
          id="app-menu"
          hiddenFrom="sm"
          aria-label="Menu"
          // Collapsed, Mantine only slides the menu off-screen; hidden, its links leave the tab order and screen readers.
          style={{ visibility: menuOpen ? 'visible' : 'hidden' }}
        >
          <Stack gap="xs">
            {nav.length > 0 && (
              <Stack component="nav" aria-label="Main" gap={4}>
                {nav.map((item) => (
                  <NavItem key={item.to} to={item.to} label={item.label} block />
                ))}
              </Stack>
            )}
            {nav.length > 0 && <Divider />}
            <Text size="sm" c="dimmed" truncate="end">
              Signed in as {displayName}
            </Text>
            <Button variant="default" onClick={() => void signOut()} loading={signingOut}>
              Sign out
            </Button>
          </Stack>
        </AppShell.Navbar>
      )}
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

function NavItem(props: { readonly to: string; readonly label: string; readonly block?: boolean }): JSX.Element {
  // Home is active only on `/` itself; the others also on their sub-paths.
  const active = useMatch({ path: props.to, end: props.to === '/' }) !== null;
  return (
    <Button
      component={Link}
      to={props.to}
      variant={active ? 'light' : 'subtle'}
      size={props.block ? 'sm' : 'xs'}
      fullWidth={props.block}
      justify={props.block ? 'flex-start' : undefined}
      aria-current={active ? 'page' : undefined}
    >
      {props.label}
    </Button>
  );
}
