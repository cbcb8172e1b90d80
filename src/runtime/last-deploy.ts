/** Redis hash: deployment → its last nixops4 apply's outcome (JSON), read by every process's API. */
export const lastDeployKey = (prefix: string) => `${prefix}:last-deploy`;
