import js from '@eslint/js'
import { builtinModules } from 'node:module'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'bench/.runs/', '.tmp/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  {
    files: ['lib/**/*.ts'],
    rules: { 'no-console': 'error' },
  },
  {
    // rxpg/browser runs in browsers and workers: no Node module, no pg (support/browser-bundle.ts checks what it reaches, too).
    files: ['lib/browser/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: builtinModules, patterns: [{ regex: '^(node:|pg(/|$))', message: 'rxpg/browser must not import Node modules or pg.' }] },
      ],
    },
  },
)
