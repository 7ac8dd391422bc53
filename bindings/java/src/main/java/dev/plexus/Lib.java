package dev.plexus;

import com.sun.jna.Function;
import com.sun.jna.Memory;
import com.sun.jna.NativeLibrary;
import com.sun.jna.Pointer;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The C library and the plumbing every class shares: finding and loading libplexus,
 * calling its functions (handles go in as their 64-bit id: a struct of one uint64_t
 * passes exactly like a uint64_t on every 64-bit ABI), statuses to exceptions, names to
 * NUL-terminated UTF-8, timeouts to nanoseconds, and blocking calls in slices so that
 * {@link Thread#interrupt()} reaches them.
 */
final class Lib {
  private Lib() {}

  static final int OK = 0;
  static final int TIMEOUT = 1;
  static final int CLOSED = 2;
  static final int OWNER_DEAD = 3;
  static final int E_NOT_FOUND = 102;
  static final long FOREVER = -1;
  /** The longest a blocking call waits in one C call before the thread's interrupt status is checked. */
  static final long SLICE_NS = 50_000_000L;

  /** The binding's version; the library's major.minor must match it (0.x minors may break). */
  static final String BINDING_VERSION = "0.2.0";

  static final NativeLibrary LIB;
  static final String PATH;
  private static final ConcurrentHashMap<String, Function> FUNCTIONS = new ConcurrentHashMap<>();

  static {
    String path = System.getenv("PLEXUS_LIBRARY");
    if (path == null || path.isEmpty()) path = System.getProperty("plexus.library");
    NativeLibrary lib;
    if (path != null && !path.isEmpty()) {
      if (!new File(path).exists()) {
        throw new UnsatisfiedLinkError("plexus: PLEXUS_LIBRARY is set to " + path + ", which does not exist");
      }
      lib = NativeLibrary.getInstance(new File(path).getAbsolutePath());
    } else {
      try {
        lib = NativeLibrary.getInstance("plexus");
      } catch (UnsatisfiedLinkError e) {
        throw new UnsatisfiedLinkError(
            "plexus: cannot find libplexus.so (" + e.getMessage() + "); build it with `cargo build --release`"
                + " in the plexus checkout and set PLEXUS_LIBRARY to target/release/libplexus.so,"
                + " or put it on jna.library.path / LD_LIBRARY_PATH");
      }
      path = lib.getFile() != null ? lib.getFile().getPath() : "libplexus.so";
    }
    LIB = lib;
    PATH = path;
    int v = fn("version").invokeInt(new Object[0]);
    String[] want = BINDING_VERSION.split("\\.");
    int major = v >>> 16, minor = (v >>> 8) & 0xff;
    if (major != Integer.parseInt(want[0]) || minor != Integer.parseInt(want[1])) {
      throw new UnsatisfiedLinkError(
          "plexus: " + path + " is version " + major + "." + minor + "." + (v & 0xff) + ", but this binding ("
              + BINDING_VERSION + ") needs " + want[0] + "." + want[1] + ".x");
    }
  }

  /** The C function {@code plexus_<name>}. */
  static Function fn(String name) {
    return FUNCTIONS.computeIfAbsent(name, n -> LIB.getFunction("plexus_" + n));
  }

  /** Calls {@code plexus_<name>} and returns its status. */
  static int call(String name, Object... args) {
    return fn(name).invokeInt(args);
  }

  /** Calls {@code plexus_<name>} and throws for every status but OK. */
  static void check(String name, Object... args) {
    ok(fn(name).invokeInt(args));
  }

  /** Calls {@code plexus_<name>(args..., uint64_t *out)} and returns {@code *out}. */
  static long u64(String name, Object... args) {
    com.sun.jna.ptr.LongByReference out = new com.sun.jna.ptr.LongByReference();
    check(name, append(args, out));
    return out.getValue();
  }

  /** Calls {@code plexus_<name>(args..., bool *out)} and returns {@code *out}. */
  static boolean bool(String name, Object... args) {
    com.sun.jna.ptr.ByteByReference out = new com.sun.jna.ptr.ByteByReference();
    check(name, append(args, out));
    return out.getValue() != 0;
  }

  private static Object[] append(Object[] args, Object last) {
    Object[] all = java.util.Arrays.copyOf(args, args.length + 1);
    all[args.length] = last;
    return all;
  }

  /** Throws the exception of {@code status} (with this thread's last error) unless it is OK. */
  static void ok(int status) {
    if (status != OK) throw error(status);
  }

  /** The exception of {@code status}, with the library's message of this thread's last failing call. */
  static PlexusException error(int status) {
    Pointer p = (Pointer) fn("last_error").invoke(Pointer.class, new Object[0]);
    String msg = p == null ? "" : p.getString(0, "UTF-8");
    if (msg.isEmpty()) msg = status == TIMEOUT ? "the wait ended before its condition held" : "failed";
    return PlexusException.of(status, msg);
  }

  static String statusName(int status) {
    Pointer p = (Pointer) fn("status_name").invoke(Pointer.class, new Object[] {status});
    return p.getString(0, "US-ASCII");
  }

  /** {@code s} as NUL-terminated UTF-8 (a C string argument); a NUL inside is refused. */
  static byte[] cstr(String s) {
    if (s == null) throw new NullPointerException("name or key is null");
    if (s.indexOf('\0') >= 0) {
      throw PlexusException.of(100, "a name, key or topic cannot contain NUL: " + s.replace('\0', '?'));
    }
    byte[] b = s.getBytes(StandardCharsets.UTF_8);
    byte[] z = new byte[b.length + 1];
    System.arraycopy(b, 0, z, 0, b.length);
    return z;
  }

  /** A timeout in nanoseconds with the C convention: null is FOREVER; negative durations are refused. */
  static long nanos(Duration timeout) {
    if (timeout == null) return FOREVER;
    if (timeout.isNegative()) throw new IllegalArgumentException("timeout must not be negative: " + timeout);
    try {
      return timeout.toNanos();
    } catch (ArithmeticException tooLong) {
      return FOREVER;
    }
  }

  /** One C call of a blocking operation with the given timeout (nanoseconds, C convention). */
  @FunctionalInterface
  interface Slice {
    int call(long timeoutNs);
  }

  /**
   * Runs a blocking C call in slices of at most {@link #SLICE_NS}, checking this thread's
   * interrupt status before each: returns the first status that is not TIMEOUT, or
   * TIMEOUT once {@code timeoutNs} (C convention) has passed. A slice that succeeds is
   * returned even if the thread was interrupted meanwhile (its result is never lost; the
   * interrupt status stays set for the next call). Only calls whose timeout leaves
   * nothing behind may be sliced (every one except a service call, which would withdraw
   * its request at each slice).
   */
  static int sliced(long timeoutNs, Slice slice) throws InterruptedException {
    // A call that does not wait cannot be interrupted (as BlockingQueue.offer(e)).
    if (timeoutNs == 0) return slice.call(0);
    if (Thread.interrupted()) throw new InterruptedException();
    long deadline = timeoutNs < 0 ? 0 : System.nanoTime() + timeoutNs;
    while (true) {
      long left = timeoutNs < 0 ? SLICE_NS : deadline - System.nanoTime();
      int st = slice.call(Math.max(0, Math.min(SLICE_NS, left)));
      if (st != TIMEOUT) return st;
      if (timeoutNs > 0 && deadline - System.nanoTime() <= 0) return TIMEOUT;
      if (Thread.interrupted()) throw new InterruptedException();
    }
  }

  /** {@link #sliced}, then throws for every status but OK. */
  static void slicedOk(long timeoutNs, Slice slice) throws InterruptedException {
    ok(sliced(timeoutNs, slice));
  }

  /** Native memory of {@code size} bytes, zeroed. */
  static Memory zeroed(long size) {
    Memory m = new Memory(size);
    m.clear();
    return m;
  }
}
