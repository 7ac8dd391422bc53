package dev.plexus.tests;

import static dev.plexus.tests.T.*;

import dev.plexus.DType;
import dev.plexus.PlexusException;
import dev.plexus.TypedArray;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Arrays;

final class TypedArrayTests {
  static final Duration SHORT = Duration.ofMillis(20);

  static void testCopiesAndBlocks() throws Exception {
    withRegion("tarray", (r, name) -> {
      TypedArray t = r.typedArray("f", DType.F64, 10, 4, 0);
      eq(DType.F64, t.dtype());
      eq(10L, t.length());
      eq(4L, t.blockLength());
      eq(3L, t.blocks());
      eq(2, t.blockElements(2));
      t.write(1, new double[] {1.5, 2.5});
      check(Arrays.equals(new double[] {0, 1.5, 2.5}, (double[]) t.read(0, 3)), "copies");
      check(!t.isFull(0), "EMPTY");
      t.writeBlock(2, new double[] {8, 9}, SHORT);
      check(t.isFull(2), "FULL");
      throwsA(PlexusException.Timeout.class, () -> t.writeBlock(2, new double[] {0, 0}, SHORT));
      check(Arrays.equals(new double[] {8, 9}, (double[]) t.readBlock(2, SHORT)), "block");
      throwsA(PlexusException.Timeout.class, () -> t.readBlock(2, SHORT));
      throwsA(IllegalArgumentException.class, () -> t.write(0, new long[] {1}));
      throwsA(IllegalArgumentException.class, () -> t.writeBlock(0, new double[] {1}, SHORT));
      throwsA(PlexusException.OutOfRange.class, () -> t.read(9, 2));
      throwsA(PlexusException.TypeMismatch.class, () -> t.load(0));
      // In place: the ByteBuffer is the region's memory.
      ByteBuffer data = t.data();
      data.putDouble(8 * 5, 42.0);
      eq(42.0, ((double[]) t.read(5, 1))[0]);
      ByteBuffer block = t.beginWrite(0, SHORT);
      block.putDouble(0, 7.0);
      t.endWrite(0);
      check(t.isFull(0), "end_write leaves it FULL");
      eq(7.0, t.beginRead(0, SHORT).getDouble(0));
      t.endRead(0);
      check(!t.isFull(0), "end_read leaves it EMPTY");
      throwsA(PlexusException.Incompatible.class, () -> r.typedArray("f", DType.I32, 10, 4, 0));
    });
  }

  static void testAtomicsWaitNotify() throws Exception {
    withRegion("tatomics", (r, name) -> {
      TypedArray t = r.typedArray("i", DType.I32, 4, 0, 0);
      t.store(0, 5);
      eq(5L, t.load(0));
      eq(5L, t.faa(0, 3));
      eq(8L, t.cas(0, 8, 1));
      eq(1L, t.cas(0, 8, 2));
      throwsA(PlexusException.InvalidArgument.class, () -> t.store(0, 1L << 40));
      check(!t.await(0, 1, SHORT), "timed out");
      check(t.await(0, 99, SHORT), "differs at once");
      Thread waker = new Thread(() -> {
        try {
          Thread.sleep(50);
        } catch (InterruptedException e) {
          return;
        }
        t.store(0, 2);
        t.notify(0, -1);
      });
      waker.start();
      check(t.await(0, 1, Duration.ofSeconds(30)), "woken");
      waker.join();
      eq(0, t.notify(0, 1));
      t.write(1, new int[] {-1, 7});
      check(Arrays.equals(new int[] {-1, 7}, (int[]) t.read(1, 2)), "ints");
      TypedArray u8 = r.typedArray("u8", DType.U8, 3, 0, 0);
      u8.write(0, new byte[] {(byte) 255, 1, 2});
      eq(new byte[] {(byte) 255, 1, 2}, u8.read(0, 3));
    });
  }
}
