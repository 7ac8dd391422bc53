package dev.plexus;

import com.sun.jna.ptr.IntByReference;
import java.time.Duration;

/**
 * A counting semaphore in a region, shaped like {@link java.util.concurrent.Semaphore}.
 * Permits belong to the region handle (the process attachment) that acquired them, not
 * to a thread; those of a process that dies come back.
 */
public final class Semaphore extends Handle {
  Semaphore(Region region, String name, long id) {
    super(region, name, "semaphore", id);
  }

  private int acquireStatus(long timeoutNs) throws InterruptedException {
    int st = Lib.sliced(timeoutNs, t -> Lib.call("semaphore_acquire", id, t));
    if (st != Lib.OK && st != Lib.TIMEOUT) throw Lib.error(st);
    return st;
  }

  /** Takes a permit, waiting without limit. */
  public void acquire() throws InterruptedException {
    acquireStatus(Lib.FOREVER);
  }

  /** Takes a permit if one is free now. */
  public boolean tryAcquire() {
    try {
      return acquireStatus(0) == Lib.OK;
    } catch (InterruptedException e) {
      throw new AssertionError("a try-once acquire does not wait", e);
    }
  }

  /** Takes a permit, waiting at most {@code timeout}; false if none came free. */
  public boolean tryAcquire(Duration timeout) throws InterruptedException {
    return acquireStatus(Lib.nanos(timeout)) == Lib.OK;
  }

  /** Gives back a permit this process holds ({@link PlexusException.InvalidArgument} if it holds none). */
  public void release() {
    Lib.check("semaphore_release", id);
  }

  /** The permits it was created with. */
  public int permits() {
    return u32("semaphore_permits");
  }

  /** The permits free now. */
  public int availablePermits() {
    return u32("semaphore_available");
  }

  /** The permits this process (this region handle) holds. */
  public int held() {
    return u32("semaphore_held");
  }

  private int u32(String fn) {
    IntByReference out = new IntByReference();
    Lib.check(fn, id, out);
    return out.getValue();
  }
}
