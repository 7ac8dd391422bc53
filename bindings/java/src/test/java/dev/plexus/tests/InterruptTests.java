package dev.plexus.tests;

import static dev.plexus.tests.T.*;

import dev.plexus.Barrier;
import dev.plexus.Bus;
import dev.plexus.Mutex;
import dev.plexus.PlexusException;
import dev.plexus.Region;
import dev.plexus.Service;
import dev.plexus.SharedArray;
import dev.plexus.SharedQueue;
import dev.plexus.Subscription;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A thread blocked in plexus gets InterruptedException when interrupted (the waits are
 * sliced), and nothing is lost.
 */
final class InterruptTests {
  /**
   * Starts {@code blocking} on a thread, interrupts it once it has started (and had time
   * to block), and checks that it ends with InterruptedException. The join has a
   * generous bound only so that a broken binding fails instead of hanging.
   */
  static void interrupts(String what, T.Body blocking) throws Exception {
    AtomicReference<Throwable> outcome = new AtomicReference<>();
    CountDownLatch started = new CountDownLatch(1);
    Thread t = new Thread(() -> {
      started.countDown();
      try {
        blocking.run();
        outcome.set(new AssertionError(what + " returned"));
      } catch (Throwable e) {
        outcome.set(e);
      }
    });
    t.start();
    started.await();
    Thread.sleep(150);
    t.interrupt();
    t.join(60_000);
    check(!t.isAlive(), what + " did not end after the interrupt");
    check(outcome.get() instanceof InterruptedException, what + " ended with " + outcome.get());
  }

  static void testEveryWaitIsInterruptible() throws Exception {
    withRegion("interrupt", (r, name) -> {
      SharedArray a = r.array("a", 1);
      interrupts("readFE", () -> a.readFE(0));
      interrupts("readFF with a timeout", () -> a.readFF(0, Duration.ofHours(1)));
      a.writeXF(0, 1L);
      interrupts("writeEF", () -> a.writeEF(0, 2L));
      eq(1L, a.read(0));
      interrupts("map readFE", () -> r.map("map", 4).readFE("k"));
      interrupts("watch", () -> a.watch(0, a.version(0), null));
      SharedQueue q = r.queue("q", 1);
      interrupts("take", q::take);
      interrupts("poll with a timeout", () -> q.poll(Duration.ofHours(1)));
      q.put("full");
      interrupts("put", () -> q.put("more"));
      interrupts("putAll", () -> q.putAll(List.of("more", "and more"), null));
      eq(1, q.size());
      Mutex m = r.mutex("m");
      m.lock();
      try {
        interrupts("lockInterruptibly", m::lockInterruptibly);
        interrupts("acquire", () -> m.acquire(null));
      } finally {
        m.unlock();
      }
      Barrier b = r.barrier("b", 2);
      interrupts("barrier await", b::await);
      dev.plexus.Semaphore s = r.semaphore("s", 1);
      s.acquire();
      interrupts("semaphore acquire", s::acquire);
      s.release();
      Bus bus = r.bus("bus", 4);
      try (Subscription sub = bus.subscribe(Bus.From.NOW)) {
        interrupts("subscription next", sub::next);
      }
      Service svc = r.service("svc", 2);
      interrupts("service call", () -> svc.call("nobody answers"));
      // The withdrawn call left nothing behind.
      eq(0L, svc.pending());
      interrupts("service next", () -> svc.next(null));
      interrupts("waitObject", () -> r.waitObject("never", null));
      dev.plexus.SharedMap map = r.map("changes", 4);
      interrupts("waitChanges", () -> map.waitChanges(map.changeCount(), null));
      interrupts("waitChange", () -> map.waitChange("k", map.version("k"), null));
      dev.plexus.TypedArray t = r.typedArray("t", dev.plexus.DType.I64, 4, 2, 0);
      interrupts("typed array await", () -> t.await(0, 0, null));
      interrupts("readBlock", () -> t.readBlock(0, null));
      interrupts("beginRead", () -> t.beginRead(1, null));
      interrupts("open a region that never appears", () -> Region.openExisting(unique("never"), null));
    });
  }

  static void testPutAllInterruptedKeepsWhatWentIn() throws Exception {
    withRegion("putall", (r, name) -> putAllInterrupted(r.queue("q", 4)));
  }

  /**
   * On {@code q} (empty, capacity 4): a putAll of 100 values waits for room without a
   * time limit while another producer's put waits behind it; this thread takes 10, waits
   * until the batch has filled the queue again and interrupts it. It ends with
   * SharedQueue.Interrupted whose pushed() is 14 (its interrupt status cleared), the 14
   * stay in the queue, and the other producer's value comes after them, not between.
   */
  static void putAllInterrupted(SharedQueue q) throws Exception {
    List<Object> batch = new ArrayList<>();
    for (long i = 0; i < 100; i++) batch.add(i);
    AtomicReference<Throwable> outcome = new AtomicReference<>();
    AtomicReference<Boolean> stillInterrupted = new AtomicReference<>();
    Thread pusher = new Thread(() -> {
      try {
        q.putAll(batch, null);
        outcome.set(new AssertionError("putAll returned"));
      } catch (Throwable e) {
        outcome.set(e);
      }
      stillInterrupted.set(Thread.currentThread().isInterrupted());
    });
    pusher.start();
    while (q.size() < 4) Thread.sleep(1);
    AtomicReference<Throwable> otherOutcome = new AtomicReference<>();
    Thread other = new Thread(() -> {
      try {
        q.put("other");
      } catch (Throwable e) {
        otherOutcome.set(e);
      }
    });
    other.start();
    Thread.sleep(50); // let it block behind the batch
    List<Object> got = new ArrayList<>();
    for (int i = 0; i < 10; i++) got.add(q.take());
    while (q.size() < 4) Thread.sleep(1);
    pusher.interrupt();
    pusher.join(60_000);
    check(!pusher.isAlive(), "putAll did not end after the interrupt");
    check(outcome.get() instanceof SharedQueue.Interrupted, "putAll ended with " + outcome.get());
    eq(14, ((SharedQueue.Interrupted) outcome.get()).pushed());
    eq(false, stillInterrupted.get());
    for (int i = 0; i < 5; i++) got.add(q.take(Duration.ofSeconds(60)));
    other.join(60_000);
    check(!other.isAlive(), "the other producer's put did not end");
    eq(null, otherOutcome.get());
    List<Object> want = new ArrayList<>(batch.subList(0, 14));
    want.add("other");
    eq(want, got);
    eq(0, q.size());
  }

  static void testLockIsNotInterruptedButKeepsTheInterrupt() throws Exception {
    withRegion("lockkeep", (r, name) -> {
      Mutex m = r.mutex("m");
      m.lock();
      AtomicReference<Object> out = new AtomicReference<>();
      Thread t = new Thread(() -> {
        m.lock();
        out.set(Thread.currentThread().isInterrupted());
        m.unlock();
      });
      t.start();
      Thread.sleep(150);
      t.interrupt();
      Thread.sleep(150);
      check(t.isAlive(), "Lock.lock() ignores interrupts while it waits");
      m.unlock();
      t.join();
      eq(true, out.get());
    });
  }

  /**
   * Consumers taking from a queue are interrupted at arbitrary moments: every value put
   * is either returned by a take or still in the queue, exactly once.
   */
  static void testNothingIsLost() throws Exception {
    withRegion("nolost", (r, name) -> {
      SharedQueue q = r.queue("q", 8);
      int n = 3000;
      List<Object> taken = java.util.Collections.synchronizedList(new ArrayList<>());
      Thread producer = new Thread(() -> {
        try {
          for (long i = 0; i < n; i++) q.put(i);
        } catch (InterruptedException e) {
          throw new RuntimeException(e);
        }
      });
      producer.start();
      while (producer.isAlive() || !q.isEmpty()) {
        Thread consumer = new Thread(() -> {
          try {
            while (true) taken.add(q.take());
          } catch (InterruptedException stop) {
            // interrupted: what it took is in `taken`
          }
        });
        consumer.start();
        Thread.sleep(5);
        consumer.interrupt();
        consumer.join();
      }
      producer.join();
      q.drainTo(taken);
      Set<Object> distinct = new HashSet<>(taken);
      eq(n, taken.size());
      eq(n, distinct.size());
      for (long i = 0; i < n; i++) check(distinct.contains(i), "value " + i + " was lost");
    });
  }

  static void testAnInterruptedCallThatDoesNotWaitStillWorks() throws Exception {
    withRegion("nowait", (r, name) -> {
      SharedQueue q = r.queue("q", 2);
      Thread.currentThread().interrupt();
      try {
        check(q.offer("x"), "offer does not wait");
        eq("x", q.poll());
        throwsA(InterruptedException.class, () -> q.take());
      } finally {
        Thread.interrupted();
      }
      check(!Thread.currentThread().isInterrupted(), "InterruptedException cleared the flag");
      throwsA(PlexusException.Timeout.class, () -> q.take(Duration.ZERO));
    });
  }
}
