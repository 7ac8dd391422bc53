package dev.plexus;

import com.sun.jna.Memory;
import com.sun.jna.ptr.LongByReference;
import java.time.Duration;
import java.util.AbstractMap;
import java.util.AbstractSet;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A map of up to {@code capacity} UTF-8 string keys in a region, each an element like an
 * array's (value, FULL/EMPTY tag, version). An absent key reads as EMPTY holding
 * {@link Plexus#UNDEFINED}; the writing calls insert it, {@link #remove} deletes it.
 * {@link #asMap()} is a {@code java.util.Map<String, Object>} view of it.
 */
public final class SharedMap extends Cells {
  SharedMap(Region region, String name, long id) {
    super(region, name, "map", id);
  }

  /** The number of keys present. */
  public long size() {
    return Lib.u64("map_len", id);
  }

  /** The most keys it holds. */
  public long capacity() {
    return Lib.u64("map_capacity", id);
  }

  /** Removes {@code key}; false if it was absent. */
  public boolean remove(String key) {
    int st = Lib.call("map_remove", id, Lib.cstr(key));
    if (st == Lib.E_NOT_FOUND) return false;
    Lib.ok(st);
    return true;
  }

  /** The keys present (every key present during the whole listing, exactly once). */
  public List<String> keys() {
    List<String> keys = new ArrayList<>();
    LongByReference cursor = new LongByReference(0);
    Memory out = Values.out();
    while (true) {
      int st = Lib.call("map_next_key", id, cursor, out);
      if (st == Lib.E_NOT_FOUND) return keys;
      Lib.ok(st);
      keys.add((String) Values.take(out));
    }
  }

  /** The map's change count: bumped by every change of any key (insert, write, tag, remove). */
  public long changeCount() {
    return Lib.u64("map_change_count", id);
  }

  /** Waits until the change count differs from {@code counter}; returns the new count. */
  public long waitChanges(long counter, Duration timeout) throws InterruptedException {
    LongByReference c = new LongByReference(counter);
    Lib.slicedOk(Lib.nanos(timeout), t -> Lib.call("map_wait_changes", id, c, t));
    return c.getValue();
  }

  /** One changed key: its version now (0 if removed), the change count at its change, and whether it was removed. */
  public record Change(String key, long version, long counter, boolean removed) {}

  /**
   * The keys changed after the change count {@code since} (0: every key present), and
   * the removals after it the map still records. {@link PlexusException.OutOfRange} when
   * removals after {@code since} were no longer all recorded: list from 0 again.
   */
  public List<Change> changesSince(long since) {
    List<Change> all = new ArrayList<>();
    LongByReference cursor = new LongByReference(0);
    Memory out = Lib.zeroed(56);
    while (true) {
      int st = Lib.call("map_next_change", id, since, cursor, out);
      if (st == Lib.E_NOT_FOUND) return all;
      Lib.ok(st);
      long version = out.getLong(32), counter = out.getLong(40);
      boolean removed = out.getByte(48) != 0;
      all.add(new Change((String) Values.take(out), version, counter, removed));
    }
  }

  /**
   * A {@code java.util.Map<String, Object>} view: get reads (an absent key, holding
   * UNDEFINED, is null), put exchanges (keeping the tag; a new key is inserted EMPTY),
   * remove removes, and iteration lists the keys present. Every call goes to the
   * region: it sees other processes' changes at once.
   */
  public Map<String, Object> asMap() {
    return new View();
  }

  private final class View extends AbstractMap<String, Object> {
    @Override
    public Object get(Object key) {
      if (!(key instanceof String)) return null;
      Object v = read((String) key);
      return v == Plexus.UNDEFINED ? null : v;
    }

    @Override
    public boolean containsKey(Object key) {
      return key instanceof String && version((String) key) != 0;
    }

    @Override
    public Object put(String key, Object value) {
      Object old = exchange(key, value);
      return old == Plexus.UNDEFINED ? null : old;
    }

    @Override
    public Object remove(Object key) {
      if (!(key instanceof String)) return null;
      Object old = get(key);
      SharedMap.this.remove((String) key);
      return old;
    }

    @Override
    public int size() {
      return (int) Math.min(Integer.MAX_VALUE, SharedMap.this.size());
    }

    @Override
    public Set<Map.Entry<String, Object>> entrySet() {
      return new AbstractSet<>() {
        @Override
        public Iterator<Map.Entry<String, Object>> iterator() {
          Iterator<String> keys = keys().iterator();
          return new Iterator<>() {
            String last;

            @Override
            public boolean hasNext() {
              return keys.hasNext();
            }

            @Override
            public Map.Entry<String, Object> next() {
              last = keys.next();
              return new AbstractMap.SimpleImmutableEntry<>(last, get(last));
            }

            @Override
            public void remove() {
              if (last == null) throw new IllegalStateException();
              SharedMap.this.remove(last);
              last = null;
            }
          };
        }

        @Override
        public int size() {
          return View.this.size();
        }
      };
    }
  }

  /** Reads the value at {@code key}, ignoring and keeping the FULL/EMPTY tag. */
  public Object read(String key) {
    return readAt(Lib.cstr(key));
  }

  /** Writes {@code value} at {@code key}, ignoring and keeping the tag. */
  public void write(String key, Object value) {
    writeAt(Lib.cstr(key), value);
  }

  /** Waits until key is FULL, reads it and leaves it EMPTY (consume), without a time limit. */
  public Object readFE(String key) throws InterruptedException {
    return waitRead("read_fe", Lib.cstr(key), null);
  }

  /** {@link #readFE(String)} waiting at most {@code timeout} ({@link PlexusException.Timeout} then; null: no limit). */
  public Object readFE(String key, Duration timeout) throws InterruptedException {
    return waitRead("read_fe", Lib.cstr(key), timeout);
  }

  /** Waits until key is FULL and reads it, leaving it FULL (peek), without a time limit. */
  public Object readFF(String key) throws InterruptedException {
    return waitRead("read_ff", Lib.cstr(key), null);
  }

  /** {@link #readFF(String)} waiting at most {@code timeout}. */
  public Object readFF(String key, Duration timeout) throws InterruptedException {
    return waitRead("read_ff", Lib.cstr(key), timeout);
  }

  /** Waits until key is EMPTY, writes {@code value} and leaves it FULL (produce), without a time limit. */
  public void writeEF(String key, Object value) throws InterruptedException {
    writeEFAt(Lib.cstr(key), value, null);
  }

  /** {@link #writeEF(String, Object)} waiting at most {@code timeout}. */
  public void writeEF(String key, Object value, Duration timeout) throws InterruptedException {
    writeEFAt(Lib.cstr(key), value, timeout);
  }

  /** Writes {@code value} at {@code key} and leaves it FULL, without waiting. */
  public void writeXF(String key, Object value) {
    writeXFAt(Lib.cstr(key), value);
  }

  /** Writes {@code value} at {@code key} and leaves it EMPTY, without waiting. */
  public void writeXE(String key, Object value) {
    writeXEAt(Lib.cstr(key), value);
  }

  /** Sets the tag of {@code key} (true: FULL) without changing its value. */
  public void setTag(String key, boolean full) {
    setTagAt(Lib.cstr(key), full);
  }

  /** Whether key is FULL right now. */
  public boolean isFull(String key) {
    return isFullAt(Lib.cstr(key));
  }

  /**
   * Waits until key is FULL, reads it and holds a shared read lock on it (writers wait)
   * until {@link #releaseRW(String)}.
   */
  public Object readRW(String key, Duration timeout) throws InterruptedException {
    return waitRead("read_rw", Lib.cstr(key), timeout);
  }

  /** Releases the read lock {@link #readRW} took on {@code key}. */
  public void releaseRW(String key) {
    releaseRWAt(Lib.cstr(key));
  }

  /** Atomically adds {@code delta} with JavaScript {@code +} semantics (numbers add, INT wraps; a
   * String on either side concatenates; UNDEFINED is an empty accumulator) to {@code key}; returns the value before. */
  public Object faa(String key, Object delta) {
    return faaAt(Lib.cstr(key), delta);
  }

  /**
   * Atomically stores {@code desired} at {@code key} if it holds {@code expected} (same type and
   * value); returns the value before (equal to {@code expected} exactly when it stored).
   */
  public Object cas(String key, Object expected, Object desired) {
    return casAt(Lib.cstr(key), expected, desired);
  }

  /** Atomically stores {@code value} at {@code key}; returns the value before. */
  public Object exchange(String key, Object value) {
    return exchangeAt(Lib.cstr(key), value);
  }

  /**
   * Applies a patch document ({@code $set}, {@code $unset}, {@code $inc}, {@code $push}, ...)
   * to the OBJECT at {@code key}, atomically; returns the value after.
   */
  public Object patch(String key, Map<String, ?> patch) {
    return patchAt(Lib.cstr(key), patch);
  }

  /** The version of key: bumped by every change of its value or tag. */
  public long version(String key) {
    return versionAt(Lib.cstr(key));
  }

  /** Waits until the version of {@code key} differs from {@code version}; returns the new version. */
  public long waitChange(String key, long version, Duration timeout) throws InterruptedException {
    return waitChangeAt(Lib.cstr(key), version, timeout);
  }

  /**
   * Waits until the version of {@code key} differs from {@code version} (0: returns at once), and
   * returns the new version with the value at it: loop on it to observe the key.
   */
  public Watched watch(String key, long version, Duration timeout) throws InterruptedException {
    return watchAt(Lib.cstr(key), version, timeout);
  }
}
