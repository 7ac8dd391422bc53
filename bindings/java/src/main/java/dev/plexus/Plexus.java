package dev.plexus;

/**
 * Library-wide constants and facts: {@link #UNDEFINED}, the open flags, and the version
 * of the library in use.
 *
 * <pre>{@code
 * try (Region region = Region.open("jobs")) {            // /dev/shm/plexus.jobs
 *   SharedArray cells = region.array("cells", 16);        // 16 elements, EMPTY
 *   cells.writeEF(0, "hello");                            // wait EMPTY, write, leave FULL
 *   Object v = cells.readFE(0, Duration.ofSeconds(1));    // wait FULL, read, leave EMPTY
 * }
 * }</pre>
 */
public final class Plexus {
  private Plexus() {}

  /** The value UNDEFINED: what a fresh element (or an absent map key) holds. */
  public static final Object UNDEFINED =
      new Object() {
        @Override
        public String toString() {
          return "UNDEFINED";
        }
      };

  /** Open flag: elements of a newly created array or map start FULL (default EMPTY). */
  public static final int FULL = 1;
  /** Open flag: fail with {@link PlexusException.Exists} if the object already exists. */
  public static final int EXCLUSIVE = 2;
  /** Queue open flag: a LIFO stack instead of a FIFO queue. */
  public static final int LIFO = 4;

  /** The library's version, "major.minor.patch". */
  public static String libraryVersion() {
    int v = Lib.fn("version").invokeInt(new Object[0]);
    return (v >>> 16) + "." + ((v >>> 8) & 0xff) + "." + (v & 0xff);
  }

  /** This binding's version. */
  public static String bindingVersion() {
    return Lib.BINDING_VERSION;
  }

  /** The file libplexus was loaded from ($PLEXUS_LIBRARY, -Dplexus.library, or the system's loader). */
  public static String libraryPath() {
    return Lib.PATH;
  }

  /**
   * How many locks in regions this process took over from owners that died holding them
   * (a diagnostic: nonzero means some process was killed inside a plexus call).
   */
  public static long recoveredLocks() {
    return Lib.fn("recovered_locks").invokeLong(new Object[0]);
  }
}
