package dev.plexus.tests;

import static dev.plexus.tests.T.*;

import dev.plexus.Plexus;
import dev.plexus.PlexusException;
import dev.plexus.SharedQueue;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

final class QueueTests {
  static final Duration SHORT = Duration.ofMillis(20);

  static void testFifoAndLifo() throws Exception {
    withRegion("queue", (r, name) -> {
      SharedQueue q = r.queue("q", 3);
      eq(3, q.capacity());
      check(q.isEmpty(), "empty");
      q.put(1L);
      check(q.offer("two"), "offer");
      check(q.offer(null, SHORT), "offer with a timeout");
      check(!q.offer(4L), "full");
      check(!q.offer(4L, SHORT), "still full");
      check(!q.offer(4L, 1, TimeUnit.MILLISECONDS), "still full");
      eq(3, q.size());
      eq(0, q.remainingCapacity());
      eq(1L, q.take());
      eq("two", q.poll());
      eq(null, q.take(SHORT));
      eq(null, q.poll());
      eq(null, q.poll(SHORT));
      eq(null, q.poll(1, TimeUnit.MILLISECONDS));
      throwsA(PlexusException.Timeout.class, () -> q.take(SHORT));
      SharedQueue s = r.queue("s", 3, Plexus.LIFO);
      s.put(1L);
      s.put(2L);
      eq(2L, s.take());
      eq(1L, s.take());
      throwsA(PlexusException.Incompatible.class, () -> r.queue("q", 5));
    });
  }

  static void testBatches() throws Exception {
    withRegion("batches", (r, name) -> {
      SharedQueue q = r.queue("q", 4);
      eq(4, q.putAll(List.of(1L, 2L, 3L, 4L, 5L, 6L), SHORT));
      List<Object> got = new ArrayList<>();
      eq(3, q.drainTo(got, 3, SHORT));
      eq(List.of(1L, 2L, 3L), got);
      eq(0, q.putAll(List.of(), SHORT));
      eq(2, q.putAll(List.of("a", "b"), null));
      eq(3, q.drainTo(got));
      eq(List.of(1L, 2L, 3L, 4L, "a", "b"), got);
      eq(0, q.drainTo(got, 5, SHORT));
    });
  }

  /**
   * A putAll larger than the queue waits for room with its values together: another
   * producer's puts, made while it waits, come after all of them.
   */
  static void testPutAllStaysTogether() throws Exception {
    withRegion("together", (r, name) -> {
      SharedQueue q = r.queue("q", 4);
      List<Object> batch = new ArrayList<>();
      for (long i = 0; i < 200; i++) batch.add(i);
      AtomicReference<Object> pushed = new AtomicReference<>();
      Thread pusher = new Thread(() -> {
        try {
          pushed.set(q.putAll(batch, Duration.ofSeconds(60)));
        } catch (Throwable e) {
          pushed.set(e);
        }
      });
      pusher.start();
      while (q.size() < 4) Thread.sleep(1);
      Thread other = new Thread(() -> {
        try {
          for (int i = 0; i < 3; i++) q.put("other " + i);
        } catch (InterruptedException e) {
          throw new RuntimeException(e);
        }
      });
      other.start();
      Thread.sleep(50); // let it block behind the batch
      List<Object> got = new ArrayList<>();
      while (got.size() < batch.size() + 3) got.add(q.take(Duration.ofSeconds(60)));
      pusher.join();
      other.join();
      eq(200, pushed.get());
      List<Object> want = new ArrayList<>(batch);
      for (int i = 0; i < 3; i++) want.add("other " + i);
      eq(want, got);
      // Zero: only what fits now, not interruptible (as offer(e)).
      Thread.currentThread().interrupt();
      try {
        eq(4, q.putAll(List.of(1L, 2L, 3L, 4L, 5L), Duration.ZERO));
        throwsA(SharedQueue.Interrupted.class, () -> q.putAll(List.of(6L), SHORT));
      } finally {
        Thread.interrupted();
      }
      eq(4, q.size());
      q.shutdown();
      throwsA(PlexusException.Closed.class, () -> q.putAll(List.of(7L), SHORT));
    });
  }

  static void testShutdown() throws Exception {
    withRegion("shutdown", (r, name) -> {
      SharedQueue q = r.queue("q", 4);
      q.put("left");
      check(!q.isShutdown(), "open");
      q.shutdown();
      check(q.isShutdown(), "shut down");
      throwsA(PlexusException.Closed.class, () -> q.put("more"));
      throwsA(PlexusException.Closed.class, () -> q.offer("more"));
      eq("left", q.take());
      throwsA(PlexusException.Closed.class, () -> q.take());
      throwsA(PlexusException.Closed.class, () -> q.poll(SHORT));
    });
  }

  static void testThreadsExactlyOnce() throws Exception {
    withRegion("threads", (r, name) -> {
      SharedQueue q = r.queue("q", 16);
      int producers = 3, each = 2000;
      ConcurrentLinkedQueue<Object> got = new ConcurrentLinkedQueue<>();
      List<Thread> threads = new ArrayList<>();
      for (int p = 0; p < producers; p++) {
        long base = (long) p << 32;
        threads.add(new Thread(() -> {
          try {
            for (int i = 0; i < each; i++) q.put(base | i);
          } catch (InterruptedException e) {
            throw new RuntimeException(e);
          }
        }));
      }
      for (int c = 0; c < 2; c++) {
        threads.add(new Thread(() -> {
          try {
            while (true) got.add(q.take());
          } catch (PlexusException.Closed done) {
            // drained
          } catch (InterruptedException e) {
            throw new RuntimeException(e);
          }
        }));
      }
      for (Thread t : threads) t.start();
      for (int p = 0; p < producers; p++) threads.get(p).join();
      q.shutdown();
      for (Thread t : threads) t.join();
      List<Long> all = new ArrayList<>();
      for (Object o : got) all.add((Long) o);
      Collections.sort(all);
      List<Long> want = new ArrayList<>();
      for (long p = 0; p < producers; p++) for (long i = 0; i < each; i++) want.add(p << 32 | i);
      eq(want, all);
    });
  }
}
