import { Button, Stack, Text, Title } from '@mantine/core';
import type { JSX } from 'react';
import { Link, useLocation } from 'react-router';

export interface NotFoundPageProps {
  /** Signed-out visitors are offered sign-in instead of a home they cannot see yet. */
  readonly signedIn: boolean;
}

/**
 * Any address the app has no page for. It says so and offers the way home, rather than silently redirecting, so a
 * mistyped or outdated link is noticed instead of looking like the home page.
 * @param props - whether someone is signed in.
 * @returns The not-found page.
 */
export function NotFoundPage(props: NotFoundPageProps): JSX.Element {
  const { pathname } = useLocation();
  return (
    <Stack maw={560} mx="auto" mt="xl" gap="md" data-testid="not-found">
      <Title order={2}>Page not found</Title>
      <Text>
        Baseline has no page at{' '}
        <Text span ff="monospace" style={{ overflowWrap: 'anywhere' }} data-testid="not-found-path">
          {pathname}
        </Text>
        . The link may be out of date or mistyped.
      </Text>
      <div>
        <Button component={Link} to={props.signedIn ? '/' : '/signin'}>
          {props.signedIn ? 'Go to the home page' : 'Go to sign in'}
        </Button>
      </div>
    </Stack>
  );
}
