/** An error the CLI reports on one line with its own exit code (1 runtime, 2 usage/config). */
export class CliError extends Error {
  constructor(message: string, readonly exitCode: 1 | 2) {
    super(message);
  }
}
