// A connection URL fit for logs and printouts: the credentials in it are masked, the host and database stay.
export function redactedUrl(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, "//***@");
}
