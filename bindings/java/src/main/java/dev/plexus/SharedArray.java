package dev.plexus;

import java.time.Duration;
import java.util.Map;

/**
 * A fixed-length array of elements in a region. Each element holds one value, a
 * FULL/EMPTY tag and a version:
 *
 * <pre>
 * readFE   wait FULL,  read,  leave EMPTY    (consume)
 * readFF   wait FULL,  read,  leave FULL     (peek)
 * writeEF  wait EMPTY, write, leave FULL     (produce)
 * writeXF  write, leave FULL;   writeXE: write, leave EMPTY   (no wait)
 * read / write   ignore and keep the tag
 * faa / cas / exchange   atomic read-modify-write, tag unchanged
 * </pre>
 *
 * Waits without a timeout wait without limit; every wait can be interrupted
 * ({@link InterruptedException}), and a value read in the meantime is never lost.
 */
public final class SharedArray extends Cells {
  SharedArray(Region region, String name, long id) {
    super(region, name, "array", id);
  }

  /** The number of elements. */
  public long length() {
    return Lib.u64("array_len", id);
  }

  /** Reads the value at {@code index}, ignoring and keeping the FULL/EMPTY tag. */
  public Object read(long index) {
    return readAt((Long) index);
  }

  /** Writes {@code value} at {@code index}, ignoring and keeping the tag. */
  public void write(long index, Object value) {
    writeAt((Long) index, value);
  }

  /** Waits until index is FULL, reads it and leaves it EMPTY (consume), without a time limit. */
  public Object readFE(long index) throws InterruptedException {
    return waitRead("read_fe", (Long) index, null);
  }

  /** {@link #readFE(long)} waiting at most {@code timeout} ({@link PlexusException.Timeout} then; null: no limit). */
  public Object readFE(long index, Duration timeout) throws InterruptedException {
    return waitRead("read_fe", (Long) index, timeout);
  }

  /** Waits until index is FULL and reads it, leaving it FULL (peek), without a time limit. */
  public Object readFF(long index) throws InterruptedException {
    return waitRead("read_ff", (Long) index, null);
  }

  /** {@link #readFF(long)} waiting at most {@code timeout}. */
  public Object readFF(long index, Duration timeout) throws InterruptedException {
    return waitRead("read_ff", (Long) index, timeout);
  }

  /** Waits until index is EMPTY, writes {@code value} and leaves it FULL (produce), without a time limit. */
  public void writeEF(long index, Object value) throws InterruptedException {
    writeEFAt((Long) index, value, null);
  }

  /** {@link #writeEF(long, Object)} waiting at most {@code timeout}. */
  public void writeEF(long index, Object value, Duration timeout) throws InterruptedException {
    writeEFAt((Long) index, value, timeout);
  }

  /** Writes {@code value} at {@code index} and leaves it FULL, without waiting. */
  public void writeXF(long index, Object value) {
    writeXFAt((Long) index, value);
  }

  /** Writes {@code value} at {@code index} and leaves it EMPTY, without waiting. */
  public void writeXE(long index, Object value) {
    writeXEAt((Long) index, value);
  }

  /** Sets the tag of {@code index} (true: FULL) without changing its value. */
  public void setTag(long index, boolean full) {
    setTagAt((Long) index, full);
  }

  /** Whether index is FULL right now. */
  public boolean isFull(long index) {
    return isFullAt((Long) index);
  }

  /**
   * Waits until index is FULL, reads it and holds a shared read lock on it (writers wait)
   * until {@link #releaseRW(long)}.
   */
  public Object readRW(long index, Duration timeout) throws InterruptedException {
    return waitRead("read_rw", (Long) index, timeout);
  }

  /** Releases the read lock {@link #readRW} took on {@code index}. */
  public void releaseRW(long index) {
    releaseRWAt((Long) index);
  }

  /** Atomically adds {@code delta} with JavaScript {@code +} semantics (numbers add, INT wraps; a
   * String on either side concatenates; UNDEFINED is an empty accumulator) to {@code index}; returns the value before. */
  public Object faa(long index, Object delta) {
    return faaAt((Long) index, delta);
  }

  /**
   * Atomically stores {@code desired} at {@code index} if it holds {@code expected} (same type and
   * value); returns the value before (equal to {@code expected} exactly when it stored).
   */
  public Object cas(long index, Object expected, Object desired) {
    return casAt((Long) index, expected, desired);
  }

  /** Atomically stores {@code value} at {@code index}; returns the value before. */
  public Object exchange(long index, Object value) {
    return exchangeAt((Long) index, value);
  }

  /**
   * Applies a patch document ({@code $set}, {@code $unset}, {@code $inc}, {@code $push}, ...)
   * to the OBJECT at {@code index}, atomically; returns the value after.
   */
  public Object patch(long index, Map<String, ?> patch) {
    return patchAt((Long) index, patch);
  }

  /** The version of index: bumped by every change of its value or tag. */
  public long version(long index) {
    return versionAt((Long) index);
  }

  /** Waits until the version of {@code index} differs from {@code version}; returns the new version. */
  public long waitChange(long index, long version, Duration timeout) throws InterruptedException {
    return waitChangeAt((Long) index, version, timeout);
  }

  /**
   * Waits until the version of {@code index} differs from {@code version} (0: returns at once), and
   * returns the new version with the value at it: loop on it to observe the element.
   */
  public Watched watch(long index, long version, Duration timeout) throws InterruptedException {
    return watchAt((Long) index, version, timeout);
  }
}
