package dev.plexus.tests;

import static dev.plexus.tests.T.*;

import dev.plexus.OpenMode;
import dev.plexus.Plexus;
import dev.plexus.PlexusException;
import dev.plexus.Region;
import dev.plexus.SharedArray;
import java.time.Duration;
import java.util.List;

final class RegionTests {
  static void testVersionsMatch() {
    String lib = Plexus.libraryVersion();
    String[] l = lib.split("\\."), b = Plexus.bindingVersion().split("\\.");
    eq(b[0] + "." + b[1], l[0] + "." + l[1]);
    check(Plexus.libraryPath().endsWith("libplexus.so"), Plexus.libraryPath());
    check(Plexus.recoveredLocks() >= 0, "recovered locks");
  }

  static void testOpenModes() throws Exception {
    String name = unique("modes");
    throwsA(PlexusException.NotFound.class, () -> Region.openExisting(name, Duration.ZERO));
    try (Region r = Region.create(name, 1 << 20)) {
      throwsA(PlexusException.Exists.class, () -> Region.create(name, 1 << 20));
      r.array("a", 1).write(0, 42L);
      try (Region again = Region.open(name)) {
        eq(42L, again.array("a", 0).read(0));
      }
      try (Region existing = Region.openExisting(name, Duration.ofSeconds(5))) {
        eq(42L, existing.array("a", 1).read(0));
      }
      Region.Info info = r.info();
      check(info.size() >= 1 << 20, "size " + info.size());
      eq(1, info.objectCount());
      check(info.attachedProcesses() >= 1, "attached");
      check(info.heapFree() > 0 && info.heapUsed() > 0, "heap");
    } finally {
      check(Region.remove(name), "removed");
    }
    check(!Region.remove(name), "a second remove finds nothing");
    // RECREATE replaces what was there.
    try (Region r = Region.open(name, new Region.Options().mode(OpenMode.RECREATE).size(1 << 20))) {
      r.array("a", 1).write(0, 1L);
    }
    try (Region r = Region.open(name, new Region.Options().mode(OpenMode.RECREATE).size(1 << 20))) {
      throwsA(PlexusException.NotFound.class, () -> r.array("a", 0));
    } finally {
      Region.remove(name);
    }
    throwsA(PlexusException.InvalidArgument.class, () -> Region.open("bad name with spaces"));
    throwsA(PlexusException.InvalidArgument.class, () -> Region.open("nul\0inside"));
    throwsA(IllegalArgumentException.class, () -> Region.openExisting(name, Duration.ofSeconds(-1)));
  }

  static void testOpenWaitsForTheRegion() throws Exception {
    String name = unique("wait");
    Thread creator = new Thread(() -> {
      try {
        Thread.sleep(200);
        Region.create(name, 1 << 20).close();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    });
    creator.start();
    try (Region r = Region.openExisting(name, Duration.ofSeconds(30))) {
      check(r.info().size() > 0, "opened");
    } finally {
      creator.join();
      Region.remove(name);
    }
  }

  static void testObjectsAndRemoveObject() throws Exception {
    withRegion("objects", (r, name) -> {
      r.array("arr", 3);
      r.map("map", 10);
      r.queue("q", 4);
      r.queue("s", 4, Plexus.LIFO);
      r.bus("bus", 8);
      r.mutex("mutex");
      r.barrier("barrier", 2);
      r.semaphore("sem", 3);
      List<Region.ObjectInfo> all = r.objects();
      eq(8, all.size());
      check(all.contains(new Region.ObjectInfo("arr", "array", 3)), all.toString());
      check(all.contains(new Region.ObjectInfo("s", "stack", 4)), all.toString());
      check(all.contains(new Region.ObjectInfo("sem", "semaphore", 3)), all.toString());
      r.waitObject("arr", Duration.ZERO);
      throwsA(PlexusException.Timeout.class, () -> r.waitObject("absent", Duration.ofMillis(20)));
      SharedArray a = r.array("arr", 3);
      r.removeObject("arr");
      throwsA(PlexusException.Removed.class, () -> a.read(0));
      a.close();
      throwsA(PlexusException.NotFound.class, () -> r.removeObject("arr"));
      throwsA(PlexusException.TypeMismatch.class, () -> r.array("map", 10));
      eq(7, r.objects().size());
    });
  }

  static void testCheckAndFlush() throws Exception {
    withRegion("check", (r, name) -> {
      r.map("m", 10).write("k", "v");
      r.flush();
      Region.CheckResult c = Region.check(name, false);
      eq("consistent", c.verdict());
      eq(0, c.problems());
      check(c.liveProcesses() >= 1, "this process is attached");
      check(c.report() != null, "report");
      eq("consistent", Region.check(name, true).verdict());
    });
    throwsA(PlexusException.NotFound.class, () -> Region.check(unique("absent"), false));
  }

  static void testStatusesOfBadFiles() throws Exception {
    java.nio.file.Path dir = java.nio.file.Files.createTempDirectory("plexus-java-test");
    java.nio.file.Path garbage = dir.resolve("garbage");
    try {
      java.nio.file.Files.write(garbage, new byte[64 * 1024]);
      PlexusException e = throwsA(PlexusException.Corrupt.class, () -> Region.open(garbage.toString()));
      eq(108, e.status());
      eq("PLEXUS_E_CORRUPT", e.code());
      // Nothing was written to the file that failed validation.
      eq(64 * 1024L, java.nio.file.Files.size(garbage));
      throwsA(PlexusException.NotFound.class, () -> Region.open(dir.resolve("no/such/dir/r").toString()));
    } finally {
      java.nio.file.Files.deleteIfExists(garbage);
      java.nio.file.Files.delete(dir);
    }
    // A server that is not there: port 1 of the loopback refuses connections.
    throwsA(PlexusException.Unavailable.class, () -> Region.open("redis://127.0.0.1:1/" + unique("nobody") + "?timeout_ms=500"));
  }

  static void testClosedHandles() throws Exception {
    String name = unique("closed");
    Region r = Region.create(name, 1 << 20);
    try {
      SharedArray a = r.array("a", 1);
      r.close();
      r.close();
      throwsA(PlexusException.BadHandle.class, () -> a.read(0));
      a.close();
      throwsA(PlexusException.BadHandle.class, () -> r.info());
    } finally {
      Region.remove(name);
    }
  }
}
