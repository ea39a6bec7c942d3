import { Alert, Stack, Text } from '@mantine/core';
import type { JSX, ReactNode } from 'react';
import type { HumanError } from '../../lib/human-errors.ts';

export interface HumanErrorAlertProps {
  readonly error: HumanError;
  readonly color?: string;
  /** Actions (try again, reconnect) under the text. */
  readonly children?: ReactNode;
  readonly 'data-testid'?: string;
}

/**
 * An error as a person reads it: what happened, what to do next, and the technical code in small print for support.
 * @param props - the error and optional actions.
 * @returns The alert.
 */
export function HumanErrorAlert(props: HumanErrorAlertProps): JSX.Element {
  const { error } = props;
  return (
    <Alert color={props.color ?? 'red'} variant="light" title={error.title} data-testid={props['data-testid']}>
      <Stack gap="xs" align="flex-start">
        <Text size="sm" data-testid="error-what">
          {error.what}
        </Text>
        <Text size="sm" fw={500} data-testid="error-next">
          {error.next}
        </Text>
        {props.children}
        {error.detail && (
          // A long message without spaces must wrap rather than widen the page on a phone.
          <Text size="xs" c="dimmed" style={{ overflowWrap: 'anywhere' }} data-testid="error-detail">
            Details: {error.detail}
          </Text>
        )}
      </Stack>
    </Alert>
  );
}
