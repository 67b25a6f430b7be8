/**
 * rxpg's version, as `rxpg --version` prints it. A constant rather than package.json read at run time, so a
 * bundled command (with no package.json beside it) still starts; spec/unit/cli.spec.ts keeps it equal to
 * package.json's.
 */
export const RXPG_VERSION = '0.1.0'
