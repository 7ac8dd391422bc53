package dev.plexus.tests;

import static dev.plexus.tests.T.*;

import dev.plexus.Bus;
import dev.plexus.DType;
import dev.plexus.Message;
import dev.plexus.Mutex;
import dev.plexus.OpenMode;
import dev.plexus.PlexusException;
import dev.plexus.Region;
import dev.plexus.SharedArray;
import dev.plexus.SharedMap;
import dev.plexus.SharedQueue;
import dev.plexus.Subscription;
import dev.plexus.TypedArray;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * The same calls on a remote region: $PLEXUS_TEST_REDIS is redis://127.0.0.1:PORT of a
 * private redis-server the Rust test started (tests/java.rs skips loudly, or fails
 * under CI, without one).
 */
final class RemoteTests {
  static final Duration WAIT = Duration.ofSeconds(10);

  static void testRemoteRegion() throws Exception {
    String server = System.getenv("PLEXUS_TEST_REDIS");
    if (server == null || server.isEmpty()) {
      String bar = "*".repeat(78);
      System.err.println("\n" + bar + "\nSKIPPED: PLEXUS_TEST_REDIS is not set: RemoteTests did not run\n" + bar);
      if (System.getenv("CI") != null) throw new AssertionError("PLEXUS_TEST_REDIS is not set, and CI is set");
      return;
    }
    String name = server + "/" + unique("remote");
    try (Region r = Region.open(name, new Region.Options().mode(OpenMode.RECREATE))) {
      SharedArray a = r.array("a", 2);
      a.writeEF(0, Map.of("k", List.of(1L, "two")), WAIT);
      eq(Map.of("k", List.of(1L, "two")), a.readFE(0, WAIT));
      throwsA(PlexusException.Timeout.class, () -> a.readFE(0, Duration.ofMillis(50)));
      eq(dev.plexus.Plexus.UNDEFINED, a.exchange(1, 0L));
      eq(0L, a.faa(1, 5));
      SharedMap m = r.map("m", 8);
      m.asMap().put("x", new byte[] {9});
      eq(new byte[] {9}, m.read("x"));
      SharedQueue q = r.queue("q", 4);
      q.put("one");
      eq(2, q.putAll(List.of(2L, 3.5), WAIT));
      eq("one", q.take(WAIT));
      Bus bus = r.bus("bus", 4);
      try (Subscription sub = bus.subscribe(Bus.From.NOW)) {
        eq(1L, bus.publishAll(List.of("one", 2L, 3.5)));
        eq(0L, bus.publishAll(List.of()));
        eq(new Message(1, null, "one"), sub.next(WAIT));
        eq(new Message(2, null, 2L), sub.next(WAIT));
        eq(new Message(3, null, 3.5), sub.next(WAIT));
      }
      Mutex mu = r.mutex("mu");
      check(mu.tryLock(WAIT), "remote lock");
      mu.unlock();
      TypedArray t = r.typedArray("t", DType.I64, 4, 0, 0);
      t.write(0, new long[] {1, 2, 3, 4});
      eq(3L, t.load(2));
      throwsA(PlexusException.Unsupported.class, t::data);
      throwsA(PlexusException.Unsupported.class, () -> Region.check(name, false));
      interruptsRemote(a);
      InterruptTests.putAllInterrupted(r.queue("batch", 4));
    } finally {
      check(Region.remove(name), "the remote region was removed");
    }
    check(!name.contains("***"), "names are kept as given");
  }

  private static void interruptsRemote(SharedArray a) throws Exception {
    InterruptTests.interrupts("remote readFE", () -> a.readFE(0));
  }
}
