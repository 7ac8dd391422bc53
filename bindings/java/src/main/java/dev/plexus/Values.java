package dev.plexus;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.LongByReference;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.util.Collection;
import java.util.Map;

/**
 * Java values to and from {@code plexus_value} (32 bytes: the type at 0, the payload at
 * 8, the owner at 24).
 *
 * <pre>
 * UNDEFINED  Plexus.UNDEFINED          FLOAT   Double (Float is written as a Double)
 * NULL       null                      STRING  String
 * BOOL       Boolean                   BYTES   byte[]
 * INT        Long (Integer, Short, Byte and a BigInteger that fits are written as INT)
 * OBJECT     Map&lt;String, Object&gt; / List&lt;Object&gt; (any Collection or Object[] is written
 *            as a list), nested, through JSON: plexus_value_from_json / _to_json convert
 *            it, so no codec is written twice; integers inside come back as Long
 *            (BigInteger beyond 64 bits), other numbers as Double.
 * </pre>
 */
final class Values {
  private Values() {}

  static final int SIZE = 32;
  static final int UNDEFINED = 0, NULL = 1, BOOL = 2, INT = 3, FLOAT = 4, STRING = 5, BYTES = 6, OBJECT = 7;

  /** A value passed in: borrowed memory for the call, released by close(). */
  /**
   * The C values of a batch call, contiguous ({@link #mem}: {@code n} plexus_value
   * structs), each converted by {@link In}, whose memory lives until {@link #close}.
   */
  static final class InBatch implements AutoCloseable {
    final Memory mem;
    private final In[] in;

    InBatch(java.util.List<?> values) {
      int n = values.size();
      in = new In[n];
      mem = new Memory((long) SIZE * Math.max(n, 1));
      try {
        for (int i = 0; i < n; i++) {
          in[i] = new In(values.get(i));
          mem.write((long) SIZE * i, in[i].mem.getByteArray(0, SIZE), 0, SIZE);
        }
      } catch (RuntimeException e) {
        close();
        throw e;
      }
    }

    @Override
    public void close() {
      for (In v : in) if (v != null) v.close();
    }
  }

  static final class In implements AutoCloseable {
    final Memory mem = Lib.zeroed(SIZE);
    private Memory payload;
    private boolean owned;

    In(Object v) {
      if (v == Plexus.UNDEFINED) {
        mem.setInt(0, UNDEFINED);
      } else if (v == null) {
        mem.setInt(0, NULL);
      } else if (v instanceof Boolean) {
        mem.setInt(0, BOOL);
        mem.setByte(8, (byte) (((Boolean) v) ? 1 : 0));
      } else if (v instanceof Long || v instanceof Integer || v instanceof Short || v instanceof Byte) {
        mem.setInt(0, INT);
        mem.setLong(8, ((Number) v).longValue());
      } else if (v instanceof BigInteger) {
        BigInteger b = (BigInteger) v;
        if (b.bitLength() > 63) {
          throw new IllegalArgumentException("plexus INT is 64 bits: " + b + " does not fit");
        }
        mem.setInt(0, INT);
        mem.setLong(8, b.longValue());
      } else if (v instanceof Double || v instanceof Float) {
        mem.setInt(0, FLOAT);
        mem.setDouble(8, ((Number) v).doubleValue());
      } else if (v instanceof String) {
        buffer(STRING, ((String) v).getBytes(StandardCharsets.UTF_8));
      } else if (v instanceof byte[]) {
        buffer(BYTES, (byte[]) v);
      } else if (v instanceof Map || v instanceof Collection || v instanceof Object[]) {
        String json = Json.write(v);
        Lib.ok(Lib.call("value_from_json", Lib.cstr(json), mem));
        owned = true;
      } else {
        throw new IllegalArgumentException(
            "plexus cannot store a " + v.getClass().getName()
                + " (values are null, Boolean, Long, Double, String, byte[], Map, List, Plexus.UNDEFINED)");
      }
    }

    private void buffer(int type, byte[] bytes) {
      mem.setInt(0, type);
      if (bytes.length > 0) {
        payload = new Memory(bytes.length);
        payload.write(0, bytes, 0, bytes.length);
        mem.setPointer(8, payload);
      } else {
        // A non-NULL pointer for an empty payload: the value's own memory.
        mem.setPointer(8, mem);
      }
      mem.setLong(16, bytes.length);
    }

    @Override
    public void close() {
      if (owned) {
        Lib.fn("value_free").invokeVoid(new Object[] {mem});
        owned = false;
      }
    }
  }

  /** An out value: zeroed (UNDEFINED, not owned) memory for the C call to fill. */
  static Memory out() {
    return Lib.zeroed(SIZE);
  }

  /** Decodes the value at {@code p + off} and releases what it owns. */
  static Object take(Pointer p, long off) {
    Pointer v = p.share(off);
    try {
      return decode(v);
    } finally {
      Lib.fn("value_free").invokeVoid(new Object[] {v});
    }
  }

  static Object take(Memory out) {
    return take(out, 0);
  }

  /** The Java value of the plexus_value at {@code v} (not released). */
  static Object decode(Pointer v) {
    int type = v.getInt(0);
    switch (type) {
      case UNDEFINED:
        return Plexus.UNDEFINED;
      case NULL:
        return null;
      case BOOL:
        return v.getByte(8) != 0;
      case INT:
        return v.getLong(8);
      case FLOAT:
        return v.getDouble(8);
      case STRING:
        return new String(bytes(v), StandardCharsets.UTF_8);
      case BYTES:
        return bytes(v);
      case OBJECT:
        return Json.read(toJson(v));
      default:
        throw PlexusException.of(199, "the library returned a value of unknown type " + type);
    }
  }

  private static byte[] bytes(Pointer v) {
    long len = v.getLong(16);
    if (len == 0) return new byte[0];
    return v.getPointer(8).getByteArray(0, (int) len);
  }

  /** JSON text of the value at {@code v} (plexus_value_to_json). */
  static String toJson(Pointer v) {
    LongByReference needed = new LongByReference();
    // Asking for the size reports it with PLEXUS_E_BUFFER_TOO_SMALL.
    int st = Lib.call("value_to_json", v, null, 0L, needed);
    if (st != 111) Lib.ok(st);
    Memory buf = new Memory(needed.getValue());
    Lib.ok(Lib.call("value_to_json", v, buf, needed.getValue(), needed));
    return buf.getString(0, "UTF-8");
  }
}
