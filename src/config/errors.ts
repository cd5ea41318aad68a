/** A configuration problem: the CLI prints its message on one line and exits 2. */
export class ConfigError extends Error {
  override name = "ConfigError";
}
