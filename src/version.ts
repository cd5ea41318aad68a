import pkg from "../package.json" with { type: "json" };

// Set by the build (`bun build --define`, build.ts); a run from source has neither.
declare const IMGATE_COMMIT: string | undefined;
declare const IMGATE_BUILD_DATE: string | undefined;

export const VERSION: string = pkg.version;

export interface BuildInfo {
  version: string;
  /** The git commit the binary was built from ("source" when run from a checkout). */
  commit: string;
  /** When it was built (ISO 8601), "" when run from source. */
  buildDate: string;
  bun: string;
  platform: string;
}

export const BUILD: BuildInfo = {
  version: VERSION,
  commit: typeof IMGATE_COMMIT === "string" ? IMGATE_COMMIT : "source",
  buildDate: typeof IMGATE_BUILD_DATE === "string" ? IMGATE_BUILD_DATE : "",
  bun: Bun.version,
  platform: `${process.platform}-${process.arch}`,
};

/** What `imgate --version` prints: the version first (scripts read the first word), then where it came from. */
export const VERSION_LINE = `${VERSION} (commit ${BUILD.commit}${BUILD.buildDate ? `, built ${BUILD.buildDate}` : ""}, bun ${BUILD.bun}, ${BUILD.platform})`;
