package dev.plexus;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.Lock;

/**
 * A robust mutex in a region, as a {@link Lock}: threads of any process attached to the
 * region take it one at a time. Ownership is per thread (only the locking thread
 * unlocks; it is not reentrant: locking it again from the holding thread throws
 * {@link PlexusException.InvalidArgument}). If the holder dies, the next locker takes
 * it over; {@link #acquire(Duration)} tells it so (the data it protects may need
 * repair), the {@link Lock} methods take it silently.
 *
 * <pre>{@code
 * Mutex m = region.mutex("accounts");
 * m.lock();
 * try { ... } finally { m.unlock(); }
 * }</pre>
 */
public final class Mutex extends Handle implements Lock {
  Mutex(Region region, String name, long id) {
    super(region, name, "mutex", id);
  }

  private int lockStatus(long timeoutNs) throws InterruptedException {
    int st = Lib.sliced(timeoutNs, t -> Lib.call("mutex_lock", id, t));
    if (st != Lib.OK && st != Lib.OWNER_DEAD && st != Lib.TIMEOUT) throw Lib.error(st);
    return st;
  }

  /**
   * Takes the mutex, waiting at most {@code timeout} (null: without limit;
   * {@link PlexusException.Timeout} then). Returns true when its previous owner died
   * holding it (the caller holds it now).
   */
  public boolean acquire(Duration timeout) throws InterruptedException {
    int st = lockStatus(Lib.nanos(timeout));
    if (st == Lib.TIMEOUT) throw Lib.error(st);
    return st == Lib.OWNER_DEAD;
  }

  /** Takes the mutex, waiting without limit; an interrupt does not stop the wait (it is kept for later). */
  @Override
  public void lock() {
    boolean interrupted = false;
    while (true) {
      try {
        lockStatus(Lib.FOREVER);
        break;
      } catch (InterruptedException e) {
        interrupted = true;
      }
    }
    if (interrupted) Thread.currentThread().interrupt();
  }

  /** Takes the mutex, waiting without limit unless the thread is interrupted. */
  @Override
  public void lockInterruptibly() throws InterruptedException {
    lockStatus(Lib.FOREVER);
  }

  /** Takes the mutex if it is free now. */
  @Override
  public boolean tryLock() {
    try {
      return lockStatus(0) != Lib.TIMEOUT;
    } catch (InterruptedException e) {
      throw new AssertionError("a try-once lock does not wait", e);
    }
  }

  /** Takes the mutex, waiting at most the given time; false if it did not come free. */
  @Override
  public boolean tryLock(long time, TimeUnit unit) throws InterruptedException {
    return lockStatus(Math.max(0, unit.toNanos(time))) != Lib.TIMEOUT;
  }

  /** {@link #tryLock(long, TimeUnit)} with a Duration. */
  public boolean tryLock(Duration timeout) throws InterruptedException {
    return lockStatus(Lib.nanos(timeout)) != Lib.TIMEOUT;
  }

  /** Releases the mutex (held by this thread; else {@link PlexusException.InvalidArgument}). */
  @Override
  public void unlock() {
    Lib.check("mutex_unlock", id);
  }

  /** Whether some thread (of any process) holds it now. */
  public boolean isLocked() {
    return Lib.bool("mutex_is_locked", id);
  }

  /** Not supported: a plexus mutex has no condition variables (use a map element's watch, or a queue). */
  @Override
  public Condition newCondition() {
    throw new UnsupportedOperationException(
        "plexus mutexes have no conditions: wait for a change with SharedMap.watch or SharedQueue.take");
  }
}
