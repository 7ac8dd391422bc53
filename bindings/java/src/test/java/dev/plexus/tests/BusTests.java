package dev.plexus.tests;

import static dev.plexus.tests.T.*;

import dev.plexus.Bus;
import dev.plexus.Message;
import dev.plexus.PlexusException;
import dev.plexus.Subscription;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

final class BusTests {
  static final Duration SHORT = Duration.ofMillis(20);

  static void testPublishSubscribe() throws Exception {
    withRegion("bus", (r, name) -> {
      Bus b = r.bus("events", 4);
      eq(4L, b.capacity());
      long first = b.nextSeq();
      long s0 = b.publish("before");
      eq(first, s0);
      try (Subscription now = b.subscribe(Bus.From.NOW);
          Subscription oldest = b.subscribe(Bus.From.OLDEST)) {
        throwsA(PlexusException.Timeout.class, () -> now.next(SHORT));
        long s1 = b.publish(1L);
        long s2 = b.publish("two");
        eq(s0 + 1, s1);
        eq(s0 + 2, s2);
        Message m = now.next(SHORT);
        eq(new Message(s1, null, 1L), m);
        eq(new Message(s2, null, "two"), now.next());
        eq("before", oldest.next(SHORT).value());
        eq(1L, oldest.next(SHORT).value());
        eq(s2 + 1, b.nextSeq());
        // A subscriber that fell behind sees the gap in the sequence numbers.
        for (int i = 0; i < 10; i++) b.publish((long) i);
        try (Subscription late = b.subscribe(Bus.From.OLDEST)) {
          Message m2 = late.next(SHORT);
          check(m2.seq() > s2, "the oldest retained is newer: " + m2);
        }
      }
    });
  }

  static void testPublishAll() throws Exception {
    withRegion("busbatch", (r, name) -> {
      Bus b = r.bus("events", 8);
      try (Subscription sub = b.subscribe(Bus.From.NOW)) {
        long single = b.publish("single");
        long first = b.publishAll(List.of(1L, "two", "x".repeat(300)));
        eq(single + 1, first);
        eq(0L, b.publishAll(List.of()));
        eq(first + 3, b.nextSeq());
        eq(new Message(single, null, "single"), sub.next(SHORT));
        eq(new Message(first, null, 1L), sub.next(SHORT));
        eq(new Message(first + 1, null, "two"), sub.next(SHORT));
        eq(new Message(first + 2, null, "x".repeat(300)), sub.next(SHORT));
        // A value refused anywhere: nothing published.
        throwsA(IllegalArgumentException.class, () -> b.publishAll(List.of(1L, new Object())));
        eq(first + 3, b.nextSeq());
        throwsA(PlexusException.Timeout.class, () -> sub.next(SHORT));
        // Batches stay together while another thread publishes single messages.
        Bus big = r.bus("mixed", 4096);
        try (Subscription all = big.subscribe(Bus.From.NOW)) {
          Thread singles = new Thread(() -> {
            for (long i = 0; i < 300; i++) big.publish(-1 - i);
          });
          singles.start();
          long[] firsts = new long[50];
          for (int k = 0; k < 50; k++) {
            List<Object> batch = new ArrayList<>();
            for (int j = 0; j < 8; j++) batch.add(k + "-" + j);
            firsts[k] = big.publishAll(batch);
          }
          singles.join();
          Map<Long, Object> seen = new HashMap<>();
          for (int i = 0; i < 300 + 400; i++) {
            Message m = all.next(SHORT);
            seen.put(m.seq(), m.value());
          }
          for (int k = 0; k < 50; k++) {
            for (int j = 0; j < 8; j++) eq(k + "-" + j, seen.get(firsts[k] + j));
          }
        }
        b.shutdown();
        throwsA(PlexusException.Closed.class, () -> b.publishAll(List.of(1L)));
      }
    });
  }

  static void testTopics() throws Exception {
    withRegion("topics", (r, name) -> {
      Bus b = r.bus("events", 16);
      try (Subscription orders = b.subscribe("orders/", Bus.From.NOW)) {
        b.emit("users/new", "ann");
        long s = b.emit("orders/new", 42L);
        b.publish("untopical");
        Message m = orders.next(SHORT);
        eq(new Message(s, "orders/new", 42L), m);
        throwsA(PlexusException.Timeout.class, () -> orders.next(SHORT));
      }
      throwsA(PlexusException.InvalidArgument.class, () -> b.emit("t".repeat(200), 1L));
    });
  }

  static void testShutdown() throws Exception {
    withRegion("busdown", (r, name) -> {
      Bus b = r.bus("events", 4);
      Subscription sub = b.subscribe(Bus.From.NOW);
      b.publish("last");
      b.shutdown();
      check(b.isShutdown(), "shut down");
      throwsA(PlexusException.Closed.class, () -> b.publish("more"));
      eq("last", sub.next(SHORT).value());
      throwsA(PlexusException.Closed.class, () -> sub.next(SHORT));
      sub.close();
      sub.close();
    });
  }
}
