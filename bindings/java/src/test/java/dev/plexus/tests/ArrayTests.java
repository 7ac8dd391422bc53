package dev.plexus.tests;

import static dev.plexus.tests.T.*;

import dev.plexus.Plexus;
import dev.plexus.PlexusException;
import dev.plexus.SharedArray;
import dev.plexus.Watched;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;

final class ArrayTests {
  static final Duration SHORT = Duration.ofMillis(20);

  static void testFullEmptyOps() throws Exception {
    withRegion("fullempty", (r, name) -> {
      SharedArray a = r.array("cells", 4);
      eq(4L, a.length());
      eq(Plexus.UNDEFINED, a.read(0));
      check(!a.isFull(0), "starts EMPTY");
      eq(0L, a.version(0));
      a.writeEF(0, "x");
      check(a.isFull(0), "FULL after writeEF");
      throwsA(PlexusException.Timeout.class, () -> a.writeEF(0, "y", SHORT));
      throwsA(PlexusException.Timeout.class, () -> a.writeEF(0, "y", Duration.ZERO));
      eq("x", a.readFF(0));
      eq("x", a.readFF(0, SHORT));
      check(a.isFull(0), "readFF leaves it FULL");
      eq("x", a.readFE(0, Duration.ofSeconds(5)));
      check(!a.isFull(0), "readFE leaves it EMPTY");
      throwsA(PlexusException.Timeout.class, () -> a.readFE(0, SHORT));
      throwsA(PlexusException.Timeout.class, () -> a.readFF(0, Duration.ZERO));
      a.writeXF(1, 10L);
      check(a.isFull(1), "writeXF");
      a.writeXE(1, 11L);
      check(!a.isFull(1), "writeXE");
      eq(11L, a.read(1));
      a.write(1, 12L);
      check(!a.isFull(1), "write keeps the tag");
      a.setTag(1, true);
      check(a.isFull(1), "setTag");
      eq(12L, a.readFE(1));
      check(a.version(1) >= 4, "every change bumps the version");
      throwsA(PlexusException.OutOfRange.class, () -> a.read(4));
      throwsA(PlexusException.OutOfRange.class, () -> a.writeEF(9, 1L, SHORT));
    });
  }

  static void testOpenFlagsAndShapes() throws Exception {
    withRegion("flags", (r, name) -> {
      SharedArray full = r.array("full", 2, Plexus.FULL);
      check(full.isFull(0) && full.isFull(1), "PLEXUS_FULL");
      throwsA(PlexusException.Exists.class, () -> r.array("full", 2, Plexus.EXCLUSIVE));
      throwsA(PlexusException.Incompatible.class, () -> r.array("full", 3));
      throwsA(PlexusException.NotFound.class, () -> r.array("absent", 0));
      eq(2L, r.array("full", 0).length());
      throwsA(PlexusException.InvalidArgument.class, () -> r.array("", 1));
    });
  }

  static void testAtomics() throws Exception {
    withRegion("atomics", (r, name) -> {
      SharedArray a = r.array("a", 2);
      a.write(0, 10L);
      eq(10L, a.faa(0, 5));
      eq(15L, a.faa(0, -15L));
      eq(0L, a.read(0));
      a.write(1, 1.5);
      eq(1.5, a.faa(1, (Object) 1.0));
      eq(2.5, a.read(1));
      eq(0L, a.exchange(0, "swapped"));
      eq("swapped", a.read(0));
      eq("swapped", a.cas(0, "other", "no"));
      eq("swapped", a.read(0));
      a.write(0, Map.of("n", 1L, "tags", List.of("a")));
      Object after = a.patch(0, Map.of("$inc", Map.of("n", 2L), "$push", Map.of("tags", "b")));
      eq(Map.of("n", 3L, "tags", List.of("a", "b")), after);
      eq(after, a.read(0));
      throwsA(PlexusException.InvalidArgument.class, () -> a.patch(0, Map.of("$bogus", Map.of("x", 1L))));
      eq(after, a.read(0));
    });
  }

  static void testWatchAndWaitChange() throws Exception {
    withRegion("watch", (r, name) -> {
      SharedArray a = r.array("a", 1);
      a.write(0, "first");
      Watched w = a.watch(0, 0, Duration.ZERO);
      eq("first", w.value());
      long v = w.version();
      throwsA(PlexusException.Timeout.class, () -> a.watch(0, v, SHORT));
      throwsA(PlexusException.Timeout.class, () -> a.waitChange(0, v, SHORT));
      AtomicReference<Object> seen = new AtomicReference<>();
      Thread t = new Thread(() -> {
        try {
          seen.set(a.watch(0, v, Duration.ofSeconds(30)));
        } catch (Exception e) {
          seen.set(e);
        }
      });
      t.start();
      a.write(0, "second");
      t.join();
      Watched got = (Watched) seen.get();
      eq("second", got.value());
      check(got.version() > v, "the version moved");
      a.write(0, "third");
      check(a.waitChange(0, got.version(), Duration.ofSeconds(5)) > got.version(), "waitChange");
    });
  }

  static void testReadRW() throws Exception {
    withRegion("readrw", (r, name) -> {
      SharedArray a = r.array("a", 1);
      throwsA(PlexusException.Timeout.class, () -> a.readRW(0, SHORT));
      a.writeXF(0, 7L);
      eq(7L, a.readRW(0, SHORT));
      AtomicReference<Object> writer = new AtomicReference<>();
      Thread t = new Thread(() -> {
        try {
          // Waits while the read lock is held.
          a.write(0, 8L);
          writer.set("wrote");
        } catch (Exception e) {
          writer.set(e);
        }
      });
      t.start();
      t.join(100);
      eq(7L, a.read(0));
      a.releaseRW(0);
      t.join();
      eq("wrote", writer.get());
      eq(8L, a.read(0));
    });
  }

  static void testThreadsHandOff() throws Exception {
    withRegion("handoff", (r, name) -> {
      SharedArray a = r.array("slot", 1);
      int n = 2000;
      AtomicReference<Throwable> failed = new AtomicReference<>();
      Thread producer = new Thread(() -> {
        try {
          for (long i = 0; i < n; i++) a.writeEF(0, i);
        } catch (Throwable e) {
          failed.set(e);
        }
      });
      producer.start();
      for (long i = 0; i < n; i++) eq(i, a.readFE(0, Duration.ofSeconds(30)));
      producer.join();
      check(failed.get() == null, String.valueOf(failed.get()));
    });
  }
}
