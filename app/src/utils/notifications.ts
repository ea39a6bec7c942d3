import { showNotification } from '@mantine/notifications';
import { normalizeErrorString } from '@medplum/core';

/**
 * Tells the user an action failed, in Medplum's normalized wording (OperationOutcome text, HTTP status, message).
 * @param err - whatever was thrown or rejected.
 * @param title - what the user was trying to do.
 */
export function showErrorNotification(err: unknown, title = 'Something went wrong'): void {
  showNotification({ color: 'red', title, message: normalizeErrorString(err), autoClose: false });
}
