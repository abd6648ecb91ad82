// A container's mount points: what the volume service keeps in
// ContainerRecord.volumes (persisted with the record).

export interface MountPoint {
  type: 'volume' | 'bind' | 'tmpfs';
  /** Absolute path inside the container, cleaned. */
  destination: string;
  /** Volume name (type volume); "" otherwise. */
  name: string;
  /** Volume driver (type volume); "" otherwise. */
  driver: string;
  /** Host path: the bind source, or where the volume was last mounted. */
  source: string;
  rw: boolean;
  /** docker's Mode string as the user gave it ("ro", "z", "" …). */
  mode: string;
  /** Bind propagation ("rprivate" by default for binds). */
  propagation: string;
  /** A volume made for this container only (`-v /path`, `--mount type=volume` without source, image VOLUME). */
  anonymous: boolean;
  /** Seed the volume from the image at the next mount (cleared once done). */
  copyData: boolean;
  /** The driver has the volume mounted for this container. */
  active?: boolean;
  /** For a volume created on demand: its driver options and labels. */
  volumeOptions?: Record<string, string>;
  volumeLabels?: Record<string, string>;
  /** The volume's driver was chosen explicitly (--mount volume-driver or --volume-driver). */
  driverExplicit?: boolean;
  /** Bind: create the host directory when missing (`-v`, not `--mount`). */
  createHostPath?: boolean;
  /** tmpfs: extra mount options (size=, mode=). */
  tmpfsOptions?: string[];
  /** Copied from another container by --volumes-from. */
  from?: string;
}

/** What the volume service stores in ContainerRecord.volumes. */
export interface ContainerVolumes {
  mounts: MountPoint[];
}
