// The one interface every volume driver implements: the built-in `local`
// driver and each volume plugin. The volume service owns names, labels and
// references; a driver only stores and mounts data.

/** What a driver reports about one of its volumes. */
export interface DriverVolume {
  name: string;
  /** Where the data is on this host; "" when the driver only knows it while mounted. */
  mountpoint: string;
  /** Driver-specific details for `volume inspect` (docker's Status). */
  status?: Record<string, unknown>;
  /** RFC 3339, when the driver knows it. */
  createdAt?: string;
}

export interface DriverCapabilities {
  /** `local`: the volume exists on this host only; `global`: the same volume on every host. */
  scope: 'local' | 'global';
}

export interface VolumeDriver {
  readonly name: string;
  /**
   * Creates a volume; creating one that exists is not an error. Throws
   * InvalidArgument for options the driver does not accept, and the driver's
   * error otherwise.
   */
  create(name: string, options: Record<string, string>, signal?: AbortSignal): Promise<void>;
  /** Removes a volume and its data. Throws NotFound for an unknown volume. */
  remove(name: string, signal?: AbortSignal): Promise<void>;
  /**
   * Makes the volume available to container `id` and returns its host path.
   * Calling it again for the same container is harmless. Throws NotFound for
   * an unknown volume and the driver's error when mounting fails.
   */
  mount(name: string, id: string, signal?: AbortSignal): Promise<string>;
  /** Container `id` no longer uses the volume; the last user's unmount releases it. Never throws for an id that holds no mount. */
  unmount(name: string, id: string, signal?: AbortSignal): Promise<void>;
  /** The volume's host path ("" when it is not mounted and the driver has none). Throws NotFound. */
  path(name: string, signal?: AbortSignal): Promise<string>;
  /** Throws NotFound for an unknown volume. */
  get(name: string, signal?: AbortSignal): Promise<DriverVolume>;
  list(signal?: AbortSignal): Promise<DriverVolume[]>;
  capabilities(signal?: AbortSignal): Promise<DriverCapabilities>;
}
