package dev.plexus;

import com.sun.jna.Memory;
import com.sun.jna.ptr.LongByReference;
import java.time.Duration;

/**
 * The element calls arrays and maps share: {@code plexus_array_<verb>(a, uint64_t index,
 * ...)} and {@code plexus_map_<verb>(m, const char *key, ...)} take the same arguments
 * after the key, so the one implementation here passes the key as an index (Long) or a
 * NUL-terminated UTF-8 key (byte[]). SharedArray and SharedMap give them typed keys.
 */
abstract class Cells extends Handle {
  private final String kind;

  Cells(Region region, String name, String kind, long id) {
    super(region, name, kind, id);
    this.kind = kind;
  }

  /**
   * Calls {@code plexus_<kind>_<verb>(id, key, inputs..., out)} with the inputs converted
   * to plexus values, and returns the value it stored in {@code out}.
   */
  private Object inOut(String verb, Object key, Object... inputs) {
    Values.In[] in = new Values.In[inputs.length];
    try {
      Object[] args = new Object[3 + inputs.length];
      args[0] = id;
      args[1] = key;
      for (int i = 0; i < inputs.length; i++) {
        in[i] = new Values.In(inputs[i]);
        args[2 + i] = in[i].mem;
      }
      Memory out = Values.out();
      args[2 + inputs.length] = out;
      Lib.check(kind + "_" + verb, args);
      return Values.take(out);
    } finally {
      for (Values.In v : in) if (v != null) v.close();
    }
  }

  /** Calls {@code plexus_<kind>_<verb>(id, key, value)}. */
  private void in(String verb, Object key, Object value) {
    try (Values.In v = new Values.In(value)) {
      Lib.check(kind + "_" + verb, id, key, v.mem);
    }
  }

  Object readAt(Object key) {
    return inOut("read", key);
  }

  void writeAt(Object key, Object value) {
    in("write", key, value);
  }

  void writeXFAt(Object key, Object value) {
    in("write_xf", key, value);
  }

  void writeXEAt(Object key, Object value) {
    in("write_xe", key, value);
  }

  /** A waiting read (read_fe, read_ff, read_rw), sliced. */
  Object waitRead(String verb, Object key, Duration timeout) throws InterruptedException {
    Memory out = Values.out();
    Lib.slicedOk(Lib.nanos(timeout), t -> Lib.call(kind + "_" + verb, id, key, out, t));
    return Values.take(out);
  }

  void writeEFAt(Object key, Object value, Duration timeout) throws InterruptedException {
    try (Values.In v = new Values.In(value)) {
      Lib.slicedOk(Lib.nanos(timeout), t -> Lib.call(kind + "_write_ef", id, key, v.mem, t));
    }
  }

  void setTagAt(Object key, boolean full) {
    Lib.check(kind + "_set_tag", id, key, (byte) (full ? 1 : 0));
  }

  boolean isFullAt(Object key) {
    return Lib.bool(kind + "_is_full", id, key);
  }

  void releaseRWAt(Object key) {
    Lib.check(kind + "_release_rw", id, key);
  }

  Object faaAt(Object key, Object delta) {
    return inOut("faa", key, delta);
  }

  Object casAt(Object key, Object expected, Object desired) {
    return inOut("cas", key, expected, desired);
  }

  Object exchangeAt(Object key, Object value) {
    return inOut("exchange", key, value);
  }

  Object patchAt(Object key, Object patch) {
    return inOut("patch", key, patch);
  }

  long versionAt(Object key) {
    LongByReference out = new LongByReference();
    Lib.check(kind + "_version", id, key, out);
    return out.getValue();
  }

  long waitChangeAt(Object key, long version, Duration timeout) throws InterruptedException {
    LongByReference v = new LongByReference(version);
    Lib.slicedOk(Lib.nanos(timeout), t -> Lib.call(kind + "_wait_change", id, key, v, t));
    return v.getValue();
  }

  Watched watchAt(Object key, long version, Duration timeout) throws InterruptedException {
    LongByReference v = new LongByReference(version);
    Memory out = Values.out();
    Lib.slicedOk(Lib.nanos(timeout), t -> Lib.call(kind + "_watch", id, key, v, out, t));
    return new Watched(v.getValue(), Values.take(out));
  }
}
