package dev.plexus;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.LongByReference;
import com.sun.jna.ptr.PointerByReference;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;

/**
 * {@code length} numbers of one {@link DType}, contiguous in the region, in blocks of
 * {@code blockLen} elements that are each EMPTY or FULL (hand-off of whole blocks), with
 * integer atomics (load, store, faa, cas, wait, notify) on I32, U32, I64 and U64 arrays.
 *
 * <p>Copies go to and from Java arrays of the dtype's width: {@code byte[]} (I8, U8),
 * {@code short[]} (I16, U16), {@code int[]} (I32, U32), {@code long[]} (I64, U64),
 * {@code float[]} (F32), {@code double[]} (F64); unsigned elements keep their bit
 * pattern. {@link #data()} is the elements in place (shared memory regions only).
 */
public final class TypedArray extends Handle {
  private final DType dtype;
  private final long length, blockLen, blocks;

  TypedArray(Region region, String name, long id) {
    super(region, name, "tarray", id);
    IntByReference d = new IntByReference();
    LongByReference len = new LongByReference(), bl = new LongByReference(), n = new LongByReference();
    Lib.check("tarray_shape", id, d, len, bl, n);
    dtype = DType.of(d.getValue());
    length = len.getValue();
    blockLen = bl.getValue();
    blocks = n.getValue();
  }

  public DType dtype() {
    return dtype;
  }

  /** Elements. */
  public long length() {
    return length;
  }

  /** Elements per block. */
  public long blockLength() {
    return blockLen;
  }

  /** Number of blocks. */
  public long blocks() {
    return blocks;
  }

  /** Elements in block {@code block} (the last may be shorter). */
  public int blockElements(long block) {
    if (block < 0 || block >= blocks) throw PlexusException.of(105, "block " + block + " of " + blocks);
    return (int) Math.min(blockLen, length - block * blockLen);
  }

  private Object newArray(int count) {
    switch (dtype.size) {
      case 1: return new byte[count];
      case 2: return new short[count];
      case 4: return dtype == DType.F32 ? new float[count] : new int[count];
      default: return dtype == DType.F64 ? new double[count] : new long[count];
    }
  }

  private int count(Object array) {
    if (array instanceof byte[] && dtype.size == 1) return ((byte[]) array).length;
    if (array instanceof short[] && dtype.size == 2) return ((short[]) array).length;
    if (array instanceof int[] && dtype.size == 4 && dtype != DType.F32) return ((int[]) array).length;
    if (array instanceof float[] && dtype == DType.F32) return ((float[]) array).length;
    if (array instanceof long[] && dtype.size == 8 && dtype != DType.F64) return ((long[]) array).length;
    if (array instanceof double[] && dtype == DType.F64) return ((double[]) array).length;
    throw new IllegalArgumentException(
        "a " + dtype + " array copies to and from " + newArray(0).getClass().getSimpleName()
            + ", not " + (array == null ? "null" : array.getClass().getSimpleName()));
  }

  private static void copyOut(Memory m, Object array) {
    if (array instanceof byte[]) m.read(0, (byte[]) array, 0, ((byte[]) array).length);
    else if (array instanceof short[]) m.read(0, (short[]) array, 0, ((short[]) array).length);
    else if (array instanceof int[]) m.read(0, (int[]) array, 0, ((int[]) array).length);
    else if (array instanceof float[]) m.read(0, (float[]) array, 0, ((float[]) array).length);
    else if (array instanceof long[]) m.read(0, (long[]) array, 0, ((long[]) array).length);
    else m.read(0, (double[]) array, 0, ((double[]) array).length);
  }

  private static void copyIn(Memory m, Object array) {
    if (array instanceof byte[]) m.write(0, (byte[]) array, 0, ((byte[]) array).length);
    else if (array instanceof short[]) m.write(0, (short[]) array, 0, ((short[]) array).length);
    else if (array instanceof int[]) m.write(0, (int[]) array, 0, ((int[]) array).length);
    else if (array instanceof float[]) m.write(0, (float[]) array, 0, ((float[]) array).length);
    else if (array instanceof long[]) m.write(0, (long[]) array, 0, ((long[]) array).length);
    else m.write(0, (double[]) array, 0, ((double[]) array).length);
  }

  private Memory buffer(int count) {
    return new Memory(Math.max(1, (long) count * dtype.size));
  }

  /** Copies elements {@code first .. first + count} into a new Java array, ignoring block states. */
  public Object read(long first, int count) {
    Object array = newArray(count);
    Memory m = buffer(count);
    Lib.check("tarray_read", id, first, (long) count, m);
    copyOut(m, array);
    return array;
  }

  /** Copies {@code array} into elements {@code first ..}, ignoring block states. */
  public void write(long first, Object array) {
    int n = count(array);
    Memory m = buffer(n);
    copyIn(m, array);
    Lib.check("tarray_write", id, first, (long) n, m);
  }

  /** Waits until block {@code block} is FULL, copies it out and leaves it EMPTY, as one step. */
  public Object readBlock(long block, Duration timeout) throws InterruptedException {
    int n = blockElements(block);
    Memory m = buffer(n);
    Lib.slicedOk(Lib.nanos(timeout), t -> Lib.call("tarray_read_block", id, block, t, m));
    Object array = newArray(n);
    copyOut(m, array);
    return array;
  }

  /** Waits until block {@code block} is EMPTY, copies {@code array} (its exact size) in and leaves it FULL. */
  public void writeBlock(long block, Object array, Duration timeout) throws InterruptedException {
    int n = blockElements(block);
    if (count(array) != n) throw new IllegalArgumentException("block " + block + " holds " + n + " elements, not " + count(array));
    Memory m = buffer(n);
    copyIn(m, array);
    Lib.slicedOk(Lib.nanos(timeout), t -> Lib.call("tarray_write_block", id, block, t, m));
  }

  /** Whether block {@code block} is FULL now. */
  public boolean isFull(long block) {
    return Lib.bool("tarray_is_full", id, block);
  }

  /**
   * The elements in place, as a little-endian ByteBuffer over the region's memory (no
   * copy; other processes see writes at once). Valid until this handle or its region is
   * closed. {@link PlexusException.Unsupported} on a remote region.
   */
  public ByteBuffer data() {
    PointerByReference ptr = new PointerByReference();
    LongByReference len = new LongByReference();
    Lib.check("tarray_data", id, ptr, len);
    return ptr.getValue().getByteBuffer(0, len.getValue() * dtype.size).order(ByteOrder.LITTLE_ENDIAN);
  }

  /** Waits until block {@code block} is EMPTY and holds it for writing: its elements in place, until {@link #endWrite}. */
  public ByteBuffer beginWrite(long block, Duration timeout) throws InterruptedException {
    return begin("tarray_begin_write", block, timeout);
  }

  /** Leaves block {@code block} FULL. */
  public void endWrite(long block) {
    Lib.check("tarray_end_write", id, block);
  }

  /** Waits until block {@code block} is FULL and holds it for reading: its elements in place, until {@link #endRead}. */
  public ByteBuffer beginRead(long block, Duration timeout) throws InterruptedException {
    return begin("tarray_begin_read", block, timeout);
  }

  /** Leaves block {@code block} EMPTY. */
  public void endRead(long block) {
    Lib.check("tarray_end_read", id, block);
  }

  private ByteBuffer begin(String fn, long block, Duration timeout) throws InterruptedException {
    int n = blockElements(block);
    PointerByReference ptr = new PointerByReference();
    Lib.slicedOk(Lib.nanos(timeout), t -> Lib.call(fn, id, block, t, ptr));
    Pointer p = ptr.getValue();
    return p.getByteBuffer(0, (long) n * dtype.size).order(ByteOrder.LITTLE_ENDIAN);
  }

  /** Atomically reads element {@code index} (I32, U32, I64, U64). */
  public long load(long index) {
    return Lib.u64("tarray_load", id, index);
  }

  /** Atomically stores {@code value} into element {@code index} (waiters are woken by {@link #notify(long, int)}). */
  public void store(long index, long value) {
    Lib.check("tarray_store", id, index, value);
  }

  /** Atomically adds {@code delta} (wrapping); returns the value before. */
  public long faa(long index, long delta) {
    LongByReference old = new LongByReference();
    Lib.check("tarray_faa", id, index, delta, old);
    return old.getValue();
  }

  /** Atomically stores {@code desired} if the element equals {@code expected}; returns the value before. */
  public long cas(long index, long expected, long desired) {
    LongByReference old = new LongByReference();
    Lib.check("tarray_cas", id, index, expected, desired, old);
    return old.getValue();
  }

  /**
   * Sleeps while element {@code index} equals {@code expected}, until a notify finds it
   * changed or {@code timeout} passes; returns false on timeout (as Atomics.wait's
   * "timed-out").
   */
  public boolean await(long index, long expected, Duration timeout) throws InterruptedException {
    int st = Lib.sliced(Lib.nanos(timeout), t -> Lib.call("tarray_wait", id, index, expected, t));
    if (st == Lib.TIMEOUT) return false;
    Lib.ok(st);
    return true;
  }

  /** Wakes up to {@code count} waiters on element {@code index} (-1: all); returns how many woke. */
  public int notify(long index, int count) {
    IntByReference woken = new IntByReference();
    Lib.check("tarray_notify", id, index, count, woken);
    return woken.getValue();
  }
}
