// Lint config for the whole repo. Type-aware rules run on TypeScript sources; bots additionally may not touch the
// globals Medplum's vmcontext runtime lacks (Buffer, process, setTimeout, ...): the bundle test catches the same at
// run time, this catches it at the line.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { BOT_GLOBAL_PROPERTY_RESTRICTIONS, BOT_GLOBAL_RESTRICTIONS } from './scripts/build-bots.ts';

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', 'test/output/**', '.local-stack/**', 'app/postcss.config.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx'],
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      curly: ['error', 'all'],
      eqeqeq: ['error', 'always'],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      'no-console': 'off',
    },
  },
  {
    files: ['bots/**/*.ts'],
    ignores: ['bots/**/*.test.ts'],
    rules: {
      'no-restricted-globals': ['error', ...BOT_GLOBAL_RESTRICTIONS],
      'no-restricted-properties': ['error', ...BOT_GLOBAL_PROPERTY_RESTRICTIONS],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  }
);
