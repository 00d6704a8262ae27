/** Time, as a port: core and engine never read the clock themselves. */
export interface Clock {
  now(): Date;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}
