package dev.plexus;

import com.sun.jna.Memory;
import com.sun.jna.ptr.ByteByReference;
import com.sun.jna.ptr.LongByReference;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * An open region: a named, fixed-size shared memory file ({@code /dev/shm/plexus.<name>}
 * for a bare name, a persistent file for a path with '/'), or a remote region on a Redis
 * server ({@code redis://host:port/NAME}), with the same calls and meaning. Objects are
 * opened through it; closing it closes their handles.
 *
 * <pre>{@code
 * try (Region r = Region.open("jobs")) {
 *   SharedMap m = r.map("state", 1000);
 *   m.write("mode", "auto");
 * }
 * }</pre>
 */
public final class Region implements AutoCloseable {
  private final String name;
  final long id;
  private volatile boolean closed;

  private Region(String name, long id) {
    this.name = name;
    this.id = id;
  }

  /** Options of {@link #open(String, Options)}: mode, size, permissions and wait. */
  public static final class Options {
    OpenMode mode = OpenMode.OPEN_OR_CREATE;
    long size;
    int permissions;
    Duration wait = Duration.ZERO;

    /** What to do when the region exists or does not (default {@link OpenMode#OPEN_OR_CREATE}). */
    public Options mode(OpenMode mode) {
      this.mode = mode;
      return this;
    }

    /** Bytes, when creating (rounded up to 4 KiB; 0, the default: 64 MiB). */
    public Options size(long bytes) {
      this.size = bytes;
      return this;
    }

    /** File mode when creating, applied exactly (0, the default: 0600). */
    public Options permissions(int mode) {
      this.permissions = mode;
      return this;
    }

    /** {@link OpenMode#OPEN} only: how long to wait for the region to appear (null: without limit). */
    public Options waitFor(Duration wait) {
      this.wait = wait;
      return this;
    }
  }

  /** Opens the region {@code name}, creating it (64 MiB) if it does not exist. */
  public static Region open(String name) {
    try {
      return open(name, new Options());
    } catch (InterruptedException e) {
      // Only OpenMode.OPEN with a wait can be interrupted.
      throw new AssertionError(e);
    }
  }

  /** Creates the region {@code name} of {@code size} bytes; {@link PlexusException.Exists} if it exists. */
  public static Region create(String name, long size) {
    try {
      return open(name, new Options().mode(OpenMode.CREATE).size(size));
    } catch (InterruptedException e) {
      throw new AssertionError(e);
    }
  }

  /**
   * Opens the existing region {@code name}, waiting up to {@code wait} (null: without
   * limit) for it to appear; {@link PlexusException.NotFound} if it did not.
   */
  public static Region openExisting(String name, Duration wait) throws InterruptedException {
    return open(name, new Options().mode(OpenMode.OPEN).waitFor(wait));
  }

  /**
   * Opens (or creates, or recreates) the region {@code name} as {@code options} say. Only
   * {@link OpenMode#OPEN} with a wait blocks, and only it can be interrupted.
   */
  public static Region open(String name, Options options) throws InterruptedException {
    byte[] cname = Lib.cstr(name);
    Memory opts = Lib.zeroed(32);
    opts.setInt(0, 32);
    opts.setInt(4, options.mode.ordinal());
    opts.setLong(8, options.size);
    opts.setInt(16, options.permissions);
    LongByReference out = new LongByReference();
    long wait = options.mode == OpenMode.OPEN ? Lib.nanos(options.wait) : 0;
    // Waiting for the region to appear is sliced like every wait: the C call reports
    // a region that did not appear within its slice as NOT_FOUND.
    if (wait == 0) {
      opts.setLong(24, 0);
      Lib.check("region_open", cname, opts, out);
      return new Region(name, out.getValue());
    }
    int st =
        Lib.sliced(
            wait,
            slice -> {
              opts.setLong(24, slice);
              int s = Lib.call("region_open", cname, opts, out);
              return s == Lib.E_NOT_FOUND && slice > 0 ? Lib.TIMEOUT : s;
            });
    if (st == Lib.TIMEOUT) {
      throw PlexusException.of(Lib.E_NOT_FOUND, "region '" + shown(name) + "' did not appear within " + options.wait);
    }
    Lib.ok(st);
    return new Region(name, out.getValue());
  }

  /** Removes the region {@code name} for every process; false if there was none. */
  public static boolean remove(String name) {
    int st = Lib.call("region_remove", Lib.cstr(name));
    if (st == Lib.E_NOT_FOUND) return false;
    Lib.ok(st);
    return true;
  }

  /** What {@link #check} found. */
  public record CheckResult(
      String verdict,
      int liveProcesses,
      int deadProcesses,
      int deadLocks,
      long leakedBlocks,
      long leakedBytes,
      int staleEntries,
      int problems,
      int repairs,
      boolean repairSkipped,
      long heapUsed,
      String report) {}

  private static final String[] VERDICTS = {"consistent", "reclaimable", "corrupt"};

  /**
   * Checks the region {@code name} without opening it ({@code repair}: also reclaims
   * what dead processes left behind). The verdict is "consistent", "reclaimable" or
   * "corrupt". {@link PlexusException.Unsupported} for a remote region.
   */
  public static CheckResult check(String name, boolean repair) {
    Memory out = Lib.zeroed(88);
    Memory report = Values.out();
    Lib.check("region_check", Lib.cstr(name), repair ? 1 : 0, out, report);
    String text = (String) Values.take(report);
    int v = out.getInt(0);
    return new CheckResult(
        v >= 0 && v < VERDICTS.length ? VERDICTS[v] : "unknown",
        out.getInt(4),
        out.getInt(8),
        out.getInt(12),
        out.getLong(16),
        out.getLong(24),
        out.getInt(32),
        out.getInt(36),
        out.getInt(40),
        out.getInt(44) != 0,
        out.getLong(48),
        text);
  }

  /** The region's name as given to open (a remote region's password replaced by ***). */
  public String name() {
    return shown(name);
  }

  /** Closes the region handle and every object handle opened through it. */
  @Override
  public void close() {
    if (closed) return;
    closed = true;
    Lib.check("region_close", id);
  }

  /** Makes everything written so far durable (msync + fsync; remote: the server's persistence). */
  public void flush() {
    Lib.check("region_flush", id);
  }

  /** Region statistics. */
  public record Info(
      long size,
      long heapSize,
      long heapUsed,
      long heapFree,
      int objectCount,
      int attachedProcesses,
      int formatVersion,
      long regionId,
      long createdUnixNs) {}

  /** Size, heap use, object count, live attachments, format version and id. */
  public Info info() {
    Memory out = Lib.zeroed(96);
    Lib.check("region_get_info", id, out);
    return new Info(
        out.getLong(0),
        out.getLong(8),
        out.getLong(16),
        out.getLong(24),
        out.getInt(32),
        out.getInt(36),
        out.getInt(40),
        out.getLong(48),
        out.getLong(56));
  }

  /** One named object of the region: its name, kind ("array", "map", "queue", ...) and size argument. */
  public record ObjectInfo(String name, String kind, long shape) {}

  /** The region's named objects. */
  public List<ObjectInfo> objects() {
    List<ObjectInfo> all = new ArrayList<>();
    LongByReference cursor = new LongByReference(0);
    Memory info = Lib.zeroed(144);
    ByteByReference found = new ByteByReference();
    while (true) {
      Lib.check("region_next_object", id, cursor, info, found);
      if (found.getValue() == 0) return all;
      all.add(new ObjectInfo(info.getString(0, "UTF-8"), info.getString(97, "UTF-8"), info.getLong(120)));
    }
  }

  /** Waits until an object called {@code name} exists (null timeout: without limit). */
  public void waitObject(String name, Duration timeout) throws InterruptedException {
    byte[] n = Lib.cstr(name);
    Lib.slicedOk(Lib.nanos(timeout), t -> Lib.call("region_wait_object", id, n, t));
  }

  /**
   * Removes the object {@code name} for every process: every handle on it throws
   * {@link PlexusException.Removed} from then on; the name is free at once.
   */
  public void removeObject(String name) {
    Lib.check("region_remove_object", id, Lib.cstr(name));
  }

  private long open(String kind, String name, long size, int flags) {
    LongByReference out = new LongByReference();
    Lib.check(kind + "_open", id, Lib.cstr(name), size, flags, out);
    return out.getValue();
  }

  /** Opens the array {@code name}, creating it with {@code length} elements (0: it must exist). */
  public SharedArray array(String name, long length) {
    return array(name, length, 0);
  }

  /** {@link #array(String, long)} with flags ({@link Plexus#FULL}, {@link Plexus#EXCLUSIVE}). */
  public SharedArray array(String name, long length, int flags) {
    return new SharedArray(this, name, open("array", name, length, flags));
  }

  /** Opens the map {@code name}, creating it for {@code capacity} keys (0: it must exist). */
  public SharedMap map(String name, long capacity) {
    return map(name, capacity, 0);
  }

  /** {@link #map(String, long)} with flags ({@link Plexus#FULL}, {@link Plexus#EXCLUSIVE}). */
  public SharedMap map(String name, long capacity, int flags) {
    return new SharedMap(this, name, open("map", name, capacity, flags));
  }

  /**
   * Opens the map {@code name}, creating it with {@code initial}'s keys, each FULL with
   * its value, atomically: no process sees the map without them. If the map exists
   * already, {@code initial} is ignored.
   */
  public SharedMap map(String name, long capacity, int flags, Map<String, ?> initial) {
    LongByReference out = new LongByReference();
    try (Values.In v = new Values.In(initial)) {
      Lib.check("map_open_with", id, Lib.cstr(name), capacity, flags, v.mem, out);
    }
    return new SharedMap(this, name, out.getValue());
  }

  /** Opens the FIFO queue {@code name}, creating it with {@code capacity} slots (0: it must exist). */
  public SharedQueue queue(String name, long capacity) {
    return queue(name, capacity, 0);
  }

  /** {@link #queue(String, long)} with flags ({@link Plexus#LIFO}: a stack; {@link Plexus#EXCLUSIVE}). */
  public SharedQueue queue(String name, long capacity, int flags) {
    return new SharedQueue(this, name, open("queue", name, capacity, flags));
  }

  /** Opens the bus {@code name}, creating it to retain {@code capacity} messages (0: it must exist). */
  public Bus bus(String name, long capacity) {
    return bus(name, capacity, 0);
  }

  /** {@link #bus(String, long)} with flags ({@link Plexus#EXCLUSIVE}). */
  public Bus bus(String name, long capacity, int flags) {
    return new Bus(this, name, open("bus", name, capacity, flags));
  }

  /** Opens (or creates) the mutex {@code name}. */
  public Mutex mutex(String name) {
    LongByReference out = new LongByReference();
    Lib.check("mutex_open", id, Lib.cstr(name), out);
    return new Mutex(this, name, out.getValue());
  }

  /** Opens the barrier {@code name}, creating it for {@code parties} (0: it must exist). */
  public Barrier barrier(String name, int parties) {
    LongByReference out = new LongByReference();
    Lib.check("barrier_open", id, Lib.cstr(name), parties, out);
    return new Barrier(this, name, out.getValue());
  }

  /** Opens the semaphore {@code name}, creating it with {@code permits} (0: it must exist). */
  public Semaphore semaphore(String name, int permits) {
    LongByReference out = new LongByReference();
    Lib.check("semaphore_open", id, Lib.cstr(name), permits, out);
    return new Semaphore(this, name, out.getValue());
  }

  /** Opens the service {@code name}, creating it for {@code capacity} requests at once (0: it must exist). */
  public Service service(String name, long capacity) {
    return new Service(this, name, open("service", name, capacity, 0));
  }

  /**
   * Opens the typed array {@code name}: {@code length} numbers of {@code dtype} in blocks
   * of {@code blockLen} (0: one block), created if absent ({@code length} 0: it must exist).
   */
  public TypedArray typedArray(String name, DType dtype, long length, long blockLen, int flags) {
    LongByReference out = new LongByReference();
    Lib.check("tarray_open", id, Lib.cstr(name), dtype.code, length, blockLen, flags, out);
    return new TypedArray(this, name, out.getValue());
  }

  @Override
  public String toString() {
    return "Region(" + name() + ")";
  }

  /**
   * A region name as it may be printed: the password of a remote region's name
   * ({@code redis://user:secret@host/NAME}) replaced by ***, as the library does.
   */
  public static String shownName(String name) {
    return name.replaceFirst("^([a-z]+://)([^/@:]*):[^/]*@", "$1$2:***@")
        .replaceFirst("^([a-z]+://)[^/:@*]+@", "$1***@");
  }

  static String shown(String name) {
    return shownName(name);
  }
}
